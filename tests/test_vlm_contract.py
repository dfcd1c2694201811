"""The contract of the families where one sequence reads another, checked alike on each
(tiny random builds, nothing downloaded): T5 (an encoder–decoder, cross-attention) and LLaVA
(a vision–language model, image tokens in the text). As the CLIP-style families' contract
tests do for theirs: the family opens from a saved folder and from its registry entry's
family, says what it reads, is budgeted by the model cache, keeps nothing about a request,
returns attention rows that sum to 1 with the model's own layer and head counts, and is
refused by the functions made for other kinds of model."""
from __future__ import annotations

import numpy as np
import pytest
from test_t5 import build_tiny_t5
from test_vlm import build_tiny_llava, picture

import mminspect as mi
from mminspect.models import registry
from mminspect.models.base import ModelAdapter
from mminspect.types import InputError

FAMILIES = {"hf_t5": (build_tiny_t5, "seq2seq", "t5-small"),
            "hf_llava": (build_tiny_llava, "vlm", "llava-interleave-qwen-0.5b")}


def run(adapter):
    """One request of the family's own kind: (attention [layer, head, query, key], lens target
    probabilities [layer, T])."""
    if adapter.family == "hf_t5":
        view = mi.cross_attention(adapter, "the cat sat on the mat", max_new_tokens=3, logit_lens=True)
        return view.cross_attention, view.lens.target_probs
    view = mi.inspect_vlm(adapter, picture(), "what is in the picture ?", max_new_tokens=3,
                          logit_lens=True)
    return view.attention, view.lens.target_probs


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def adapter(request, tmp_path_factory):
    build = FAMILIES[request.param][0]
    return registry.load(str(build(tmp_path_factory.mktemp(request.param))))


def test_a_saved_folder_opens_as_its_family_with_eager_attention(adapter):
    assert isinstance(adapter, ModelAdapter) and adapter.family in FAMILIES
    assert adapter.model.config._attn_implementation == "eager"
    assert registry.FAMILIES[adapter.family].split(":")[1] == type(adapter).__name__


def test_it_says_what_it_reads_as_its_registry_entry_does(adapter):
    _, modality, curated = FAMILIES[adapter.family]
    row = {r["name"]: r for r in registry.list_models()}[curated]
    assert adapter.modalities == (modality,) == (row["modality"],)
    assert row["family"] == adapter.family and "downloads on first use" in row["label"]
    assert getattr(adapter, modality)                 # the flag its api function checks


def test_the_model_cache_can_budget_it(adapter):
    params = sum(p.numel() * 4 for p in adapter.model.parameters())         # float32
    assert adapter.memory_bytes() >= params > 0


def test_it_keeps_nothing_about_a_request(adapter):
    run(adapter)              # the first use attaches the model's lock (api.exclusive): not a request's
    before = {k: v for k, v in vars(adapter).items()}
    run(adapter)
    assert set(vars(adapter)) == set(before)
    assert all(vars(adapter)[k] is v for k, v in before.items())      # nothing replaced either


def test_rows_sum_to_one_with_the_models_own_layers_and_heads(adapter):
    attention, lens = run(adapter)
    sizes = adapter.sizes()
    layers = sizes.get("decoder_layers", sizes["layers"])
    assert attention.shape[:2] == (layers, sizes["heads"]) and lens.shape[0] == layers
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.all((lens >= 0) & (lens <= 1))


def test_functions_made_for_other_kinds_of_model_refuse_it(adapter):
    with pytest.raises(InputError, match="does not read text"):
        mi.inspect_text(adapter, "the cat sat on the mat")
    other = mi.inspect_vlm if adapter.family == "hf_t5" else mi.cross_attention
    args = (picture(), "a prompt") if other is mi.inspect_vlm else ("a source",)
    with pytest.raises(InputError, match="no image tokens|no cross-attention"):
        other(adapter, *args)
