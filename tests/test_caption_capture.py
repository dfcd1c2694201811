"""The captioner's captures on a small random model (no assets needed): the cross- and
self-attention the hooks record equal a recomputation of the decoder from its weights alone
(plain tensor algebra, none of the model's modules) within 1e-5; the logit lens's last layer is
the model's own output; the result types refuse wrong shapes; bad input gets a clear message."""
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from mminspect.api import fusion_caption as fc  # noqa: E402
from mminspect.capture.cross_attention import record_attention  # noqa: E402
from mminspect.fusion.caption import END, START, CaptionConfig, CaptionModel, caption_ids, caption_vocabulary  # noqa: E402
from mminspect.fusion.data import world_scenes  # noqa: E402
from mminspect.models.caption_adapter import CaptionAdapter  # noqa: E402
from mminspect.types import InputError  # noqa: E402
from mminspect.types.caption import CaptionView  # noqa: E402

TOL = 1e-5


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(3)
    model = CaptionModel(CaptionConfig(width=32, depth=2, heads=4, vocab_size=len(caption_vocabulary())))
    with torch.no_grad():                       # a sharper random decoder: its maps are not flat
        for p in model.blocks.parameters():
            p.mul_(4.0) if p.ndim == 2 else None
    return CaptionAdapter.from_model(model)


@pytest.fixture(scope="module")
def scene():
    return next(world_scenes(5200, 1, stream=1, n_objects=2))[1]


def _recompute(model: CaptionModel, pixels: torch.Tensor, ids: torch.Tensor):
    """The decoder from its state dict alone: (cross [layer, head, word, patch], self [layer,
    head, word, word], logits [word, vocab])."""
    sd = {k: v.double() for k, v in model.state_dict().items() if not k.startswith("visual.")}
    cfg, d = model.cfg, model.cfg.width
    h, dh = cfg.heads, d // cfg.heads
    patches = model.patch_tokens(pixels)[0].double()                        # [patch, embed]
    mem = F.layer_norm(patches @ sd["patch_in.weight"].T + sd["patch_in.bias"] + model.patch_pos.double(),
                       (d,), sd["ln_mem.weight"], sd["ln_mem.bias"])
    x = sd["words.weight"][ids[0]] + sd["word_pos"][:ids.shape[1]]          # [word, d]
    n = x.shape[0]
    heads = lambda t: t.view(t.shape[0], h, dh).transpose(0, 1)             # noqa: E731 [head, token, dh]
    crosses, selfs = [], []
    for i in range(cfg.depth):
        p = lambda name: sd[f"blocks.{i}.{name}"]                           # noqa: E731
        y = F.layer_norm(x, (d,), p("ln1.weight"), p("ln1.bias"))
        q, k, v = (y @ p("attn.qkv.weight").T + p("attn.qkv.bias")).split(d, -1)
        s = heads(q) @ heads(k).transpose(1, 2) / math.sqrt(dh)
        s = s + torch.full((n, n), float("-inf"), dtype=s.dtype).triu(1)
        a = s.softmax(-1)
        selfs.append(a)
        x = x + (a @ heads(v)).transpose(0, 1).reshape(n, d) @ p("attn.proj.weight").T + p("attn.proj.bias")
        y = F.layer_norm(x, (d,), p("ln2.weight"), p("ln2.bias"))
        q = y @ p("cross.q.weight").T + p("cross.q.bias")
        k, v = (mem @ p("cross.kv.weight").T + p("cross.kv.bias")).split(d, -1)
        a = (heads(q) @ heads(k).transpose(1, 2) / math.sqrt(dh)).softmax(-1)
        crosses.append(a)
        x = x + (a @ heads(v)).transpose(0, 1).reshape(n, d) @ p("cross.proj.weight").T + p("cross.proj.bias")
        y = F.layer_norm(x, (d,), p("ln3.weight"), p("ln3.bias"))
        x = x + F.gelu(y @ p("mlp.0.weight").T + p("mlp.0.bias")) @ p("mlp.2.weight").T + p("mlp.2.bias")
    logits = F.layer_norm(x, (d,), sd["ln_f.weight"], sd["ln_f.bias"]) @ sd["head.weight"].T + sd["head.bias"]
    return torch.stack(crosses), torch.stack(selfs), logits


def test_captured_attention_equals_a_recomputation_from_the_weights(adapter, scene):
    view = fc.caption_scene(adapter, scene.image, prefix="a red star and")
    assert view.given == 4 and view.steps[:4] == ["a", "red", "star", "and"]
    ids = torch.tensor([caption_ids(view.read)])
    cross, selfs, logits = _recompute(adapter.model, adapter.pixels(view.image), ids)
    assert view.cross.shape == (2, 4, len(view.steps), 64)
    assert np.abs(view.cross - cross.numpy()).max() <= TOL
    assert np.abs(view.self_attention - selfs.numpy()).max() <= TOL
    # the maps are not flat (a capture of uniform rows would pass a loose check)
    assert view.cross.max() > 3 / 64
    want = logits.softmax(-1).gather(-1, torch.tensor(caption_ids(view.steps))[:, None])[:, 0]
    assert np.abs(view.probs - want.numpy()).max() <= TOL


def test_words_after_the_prefix_are_the_greedy_choice_and_the_lens_ends_at_the_output(adapter, scene):
    view = fc.caption_scene(adapter, scene.image, prefix="a cat")
    ids = torch.tensor([caption_ids(view.read)])
    logits = _recompute(adapter.model, adapter.pixels(view.image), ids)[2]
    vocab = caption_vocabulary()
    assert view.steps[view.given:] == [vocab[i] for i in logits[view.given:].argmax(-1).tolist()]
    assert view.ended == (view.steps[-1] == END) and view.read[0] == START
    last = view.lens.top_ids[-1]                                             # [step, k]
    assert [vocab[i] for i in last[:, 0]] == [vocab[i] for i in logits.argmax(-1).tolist()]
    assert np.allclose(view.lens.target_probs[-1], view.probs, atol=TOL)


def test_the_hook_is_removed_afterwards(adapter, scene):
    mods = adapter.cross_attention_modules()
    with record_attention(mods) as maps:
        assert all(len(m._forward_hooks) == 1 for m in mods)
        adapter.model(adapter.pixels(adapter.image_array(scene.image)), torch.tensor([[1, 5]]))
    assert sorted(maps) == [0, 1] and all(len(m._forward_hooks) == 0 for m in mods)


def test_word_maps_per_head_average_to_the_mean_and_pointing_scores_each_object_word(adapter, scene):
    view = fc.caption_scene(adapter, scene.image)
    m = fc.caption_word_map(view, 0, layer=-1)
    assert m.per_head.shape == (4, 8, 8) and np.allclose(m.per_head.mean(0), m.mean)
    assert np.allclose(m.per_head.sum((1, 2)), 1.0, atol=1e-5)
    t = scene.things[0]
    name = f"{t.colour} {t.name}" if t.colour else t.name
    forced = fc.caption_scene(adapter, scene.image, prefix=f"a {name}")
    point = fc.caption_pointing(forced, {name: scene.masks[0]})
    assert len(point.words) == 2 and set(point.layers.tolist()) == {0, 1}   # one object word, 2 layers
    assert point.words[0] == t.name and point.objects == [name, name]
    assert 0.0 <= point.energy.min() and point.energy.max() <= 1.0


@pytest.mark.parametrize("prefix, message", [
    ("a zebra", "cannot write 'zebra'"),
    ("a " * 30, "at most 19"),
    ("x" * 300, "at most 200"),
])
def test_a_prefix_it_cannot_write_is_refused_with_a_reason(adapter, scene, prefix, message):
    with pytest.raises(InputError, match=message):
        fc.caption_scene(adapter, scene.image, prefix=prefix)


def test_bad_steps_layers_scenes_and_models_are_refused(adapter, scene):
    view = fc.caption_scene(adapter, scene.image)
    with pytest.raises(InputError, match="does not exist"):
        fc.caption_word_map(view, len(view.steps), 0)
    with pytest.raises(InputError, match="2 layers"):
        fc.caption_word_map(view, 0, 5)
    for bad in (-1, 200, "3", True):
        with pytest.raises(InputError, match="held-out scenes are 0 to 199"):
            fc.held_out_scene(bad)
    with pytest.raises(InputError, match="not the cross-attention captioner"):
        fc.as_captioner(object())


def test_the_view_refuses_wrong_shapes(adapter, scene):
    view = fc.caption_scene(adapter, scene.image)
    fields = {k: getattr(view, k) for k in view.__dataclass_fields__}
    with pytest.raises(ValueError, match="cross must be"):
        CaptionView(**fields | {"cross": view.cross[:, :, :, :10]})
    with pytest.raises(ValueError, match="sum to 1"):
        CaptionView(**fields | {"cross": view.cross * 2})
    if len(view.steps) > 1:
        with pytest.raises(ValueError, match="causal"):
            CaptionView(**fields | {"self_attention": np.full_like(view.self_attention, 1 / len(view.steps))})


def test_held_out_scenes_are_the_cards(scene):
    from mminspect.lab.caption_eval import EVAL_SEED
    s = fc.held_out_scene(0)
    assert fc.HELD_OUT_SEED == EVAL_SEED
    assert np.array_equal(s.image, scene.image) and len(s.masks) == 2
