"""The glass box on one cross-attention head of the shipped captioner, against the decoder
recomputed here in float64 from the state dict (no module of the model is called after the
frozen tower): the words' normed states, the queries from the words, the keys and values from
the patches, the scores, the softmax over the patches, the context and the head's output,
each within 1e-5; the model's own maps and output agree with the trace; bad input is named."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from test_caption_causal import TOL, adapter  # noqa: F401  (the shipped captioner, loaded once)

from mminspect.api import fusion_caption_trace as ct
from mminspect.api.fusion_caption import caption_scene, held_out_scene
from mminspect.fusion.caption import caption_ids
from mminspect.types import InputError


@pytest.fixture(scope="module")
def image():
    return held_out_scene(5).image


def cross_inputs(model, pixels, read, layer):
    """(the words' states after ln2 at `layer` [S, D], the memory [P, D]), float64."""
    sd = {k: v.double() for k, v in model.state_dict().items() if not k.startswith("visual.")}
    d, h = model.cfg.width, model.cfg.heads
    dh = d // h
    mem = F.layer_norm(model.patch_tokens(pixels)[0].double() @ sd["patch_in.weight"].T + sd["patch_in.bias"]
                       + model.patch_pos.double(), (d,), sd["ln_mem.weight"], sd["ln_mem.bias"])
    ids = torch.tensor(caption_ids(list(read)))
    x = sd["words.weight"][ids] + sd["word_pos"][:len(ids)]
    n = len(ids)
    split = lambda t: t.view(t.shape[0], h, dh).transpose(0, 1)             # noqa: E731
    for i in range(layer + 1):
        p = lambda name: sd[f"blocks.{i}.{name}"]                           # noqa: E731
        y = F.layer_norm(x, (d,), p("ln1.weight"), p("ln1.bias"))
        q, k, v = (y @ p("attn.qkv.weight").T + p("attn.qkv.bias")).split(d, -1)
        s = (split(q) @ split(k).transpose(1, 2) / math.sqrt(dh)).masked_fill(
            torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        x = x + (s.softmax(-1) @ split(v)).transpose(0, 1).reshape(n, d) @ p("attn.proj.weight").T + p("attn.proj.bias")
        y = F.layer_norm(x, (d,), p("ln2.weight"), p("ln2.bias"))
        if i == layer:
            return y, mem, sd
        q = y @ p("cross.q.weight").T + p("cross.q.bias")
        k, v = (mem @ p("cross.kv.weight").T + p("cross.kv.bias")).split(d, -1)
        a = (split(q) @ split(k).transpose(1, 2) / math.sqrt(dh)).softmax(-1)
        x = x + (a @ split(v)).transpose(0, 1).reshape(n, d) @ p("cross.proj.weight").T + p("cross.proj.bias")
        y = F.layer_norm(x, (d,), p("ln3.weight"), p("ln3.bias"))
        x = x + F.gelu(y @ p("mlp.0.weight").T + p("mlp.0.bias")) @ p("mlp.2.weight").T + p("mlp.2.bias")


@pytest.mark.parametrize("layer, head", [(0, 1), (1, 2), (2, 3)])
def test_a_cross_head_trace_equals_the_weights_recomputed_here(adapter, image, layer, head):
    tr = ct.trace_cross_head(adapter, image, layer, head)
    assert tr.read[0] == "[START]" and len(tr.read) == len(tr.steps) and len(tr.patches) == 64
    y, mem, sd = cross_inputs(adapter.model, adapter.pixels(adapter.image_array(image)), tr.read, layer)
    d = adapter.cfg.width
    dh = d // adapter.cfg.heads
    rows = slice(head * dh, (head + 1) * dh)
    p = lambda name: sd[f"blocks.{layer}.cross.{name}"]                     # noqa: E731
    q = y @ p("q.weight")[rows].T + p("q.bias")[rows]
    k = mem @ p("kv.weight")[rows].T + p("kv.bias")[rows]
    v = mem @ p("kv.weight")[d:][rows].T + p("kv.bias")[d:][rows]
    scores = q @ k.T
    weights = (scores / math.sqrt(dh)).softmax(-1)
    context = weights @ v
    output = context @ p("proj.weight")[:, rows].T
    for name, want in (("x", y), ("memory", mem), ("q", q), ("k", k), ("v", v), ("scores", scores),
                       ("weights", weights), ("context", context), ("output", output)):
        got = getattr(tr, name)
        assert got.shape == tuple(want.shape), name
        assert np.abs(got - want.numpy()).max() <= TOL, name
    assert tr.scale == pytest.approx(1 / math.sqrt(dh))
    assert np.allclose(tr.weights.sum(-1), 1, atol=TOL) and tr.weights.max() > 3 / 64
    assert tr.max_error <= TOL


def test_the_trace_is_the_map_the_captioner_view_shows(adapter, image):
    view = caption_scene(adapter, image)
    traces = ct.trace_cross_heads(adapter, image)
    assert list(traces[0][0].steps) == view.steps
    for layer, row in enumerate(traces):
        for h, tr in enumerate(row):
            assert np.abs(tr.weights - view.cross[layer, h]).max() <= TOL


def test_top_patches_are_the_largest_weights(adapter, image):
    tr = ct.trace_cross_head(adapter, image, 1, 0)
    top = ct.top_patches(tr, 1, k=5)
    assert [t["weight"] for t in top] == sorted(tr.weights[1], reverse=True)[:5]
    assert all(t["× scale"] == pytest.approx(t["q·k"] * tr.scale) for t in top)


@pytest.mark.parametrize("layer, head, message", [(3, 0, "layers 0..2"), (0, 4, "heads 0..3"), (True, 0, "layer=True")])
def test_bad_heads_are_named(adapter, image, layer, head, message):
    with pytest.raises(InputError, match=message):
        ct.trace_cross_head(adapter, image, layer, head)
