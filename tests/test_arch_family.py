"""A new CLIP-style family is its adapter, its spec (models/arch.py) and its registry entry:
a tiny family defined here, with its towers' roots somewhere no shipped family keeps them,
is traced head by head, its heads removed, its blocks randomised and its image explained,
with no other file knowing it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import mminspect as mi
from mminspect.api.causal_towers import tower_sites
from mminspect.explain.sanity import tower_blocks
from mminspect.explain.tower_sites import image_head, image_site, text_site
from mminspect.models import arch, registry
from mminspect.models.hf_clip import HFCLIPAdapter

from clip_tiny import tiny_hf_clip_dir

PROMPTS = ["a photo of a cat", "a red square"]


class TinyAdapter(HFCLIPAdapter):
    """HF CLIP weights whose towers the adapter keeps under names of its own, so the spec's
    roots (not hf_clip's) must be what every explainer follows."""

    family = "tiny_family"

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        super().__init__(name, path, label, device)
        self.eyes = self.model.vision_model             # the image tower's root
        self.reader = self.model.text_model             # the text tower's root


def _spec() -> arch.ArchSpec:
    hf = arch.ARCHS["hf_clip"].towers
    return arch.ArchSpec("tiny_family", {
        "image": {**hf["image"], "root": "eyes"},
        "text": {**hf["text"], "root": "reader"}},
        image_head={"norm": "eyes.post_layernorm", "proj": "model.visual_projection",
                    "pool": "mean"}, trained_on="random pixels")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tiny_hf_clip_dir(tmp_path_factory)
    arch.register(_spec())
    registry.FAMILIES["tiny_family"] = f"{__name__}:TinyAdapter"
    registry.REGISTRY["tiny-family"] = {"family": "tiny_family", "source": str(folder),
                                        "label": "a tiny family", "options": {}}
    try:
        yield mi.load("tiny-family")
    finally:
        registry.REGISTRY.pop("tiny-family")
        registry.FAMILIES.pop("tiny_family")
        arch.unregister("tiny_family")


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), np.uint8))


def test_the_tiny_family_is_listed_as_an_image_model(tiny):
    row = next(r for r in mi.list_models() if r["name"] == "tiny-family")
    assert row["modality"] == "image" and row["family"] == "tiny_family"


def test_the_tiny_family_is_traced_head_by_head_in_both_towers(tiny):
    image = mi.trace_head(tiny, image=_image(), tower="image", layer=1, head=2)
    text = mi.trace_head(tiny, "a photo of a cat", tower="text", layer=0, head=1)
    assert image.max_error < 1e-4 and text.max_error < 1e-4
    assert image_site(tiny).root is tiny.eyes and text_site(tiny).root is tiny.reader


def test_the_tiny_family_heads_are_the_spec_roots_modules(tiny):
    outs, n_heads, blocks = tower_sites(tiny, "image", blocks=True)
    assert n_heads == 4 and len(outs) == 2
    assert outs[1] is tiny.eyes.encoder.layers[1].self_attn.out_proj
    t_outs, t_heads = tower_sites(tiny, "text")
    assert t_heads == 4 and t_outs[0] is tiny.reader.encoder.layers[0].self_attn.out_proj
    got = mi.ablate_heads(tiny, image=_image(), prompts=PROMPTS, heads=[(0, 1), (1, 0)])
    assert np.abs(got.delta_logit).max() > 0


def test_the_tiny_family_blocks_are_randomised_where_its_spec_says(tiny):
    assert tower_blocks(tiny, "image") == list(tiny.eyes.encoder.layers)
    assert tower_blocks(tiny, "text") == list(tiny.reader.encoder.layers)


def test_the_tiny_family_output_head_is_its_spec_head(tiny):
    tokens = torch.randn(5, tiny.eyes.config.hidden_size)                  # [n, width]
    with torch.no_grad():
        want = tiny.model.visual_projection(tiny.eyes.post_layernorm(tokens.mean(0)))
        np.testing.assert_allclose(image_head(tiny)(tokens), want, atol=1e-6)
    legrad = mi.attribute_image(tiny, _image(), PROMPTS[0], method="legrad")
    assert np.isfinite(legrad.scores).all() and legrad.scores.std() > 0


def test_an_unregistered_family_is_named_in_the_refusal(tiny):
    arch.unregister("tiny_family")
    try:
        with pytest.raises(mi.types.InputError, match="tiny_family"):
            mi.ablate_heads(tiny, image=_image(), prompts=PROMPTS, heads=[(0, 1)])
        with pytest.raises(mi.types.InputError):
            mi.trace_head(tiny, image=_image(), tower="image", layer=0, head=0)
    finally:
        arch.register(_spec())
