"""The captioner's training program end to end on a tiny run (a few steps): it writes weights
and a card that the adapter loads through its SHA-256 check, with mini-CLIP 2's image tower
copied in unchanged; the same seed gives the same weights; the evaluation's caption reading
is checked on captions written by hand."""
import json

import pytest
import torch
from safetensors.torch import load_file

from mminspect.lab import caption_train
from mminspect.lab.caption_eval import named_objects, scores
from mminspect.miniclip.world import Thing
from mminspect.models.caption_adapter import CARD, WEIGHTS, CaptionAdapter
from mminspect.models.miniclip_adapter import bundled_dir

TINY = ["--steps", "3", "--pool", "24", "--batch", "8", "--eval", "8", "--monitor", "0",
        "--width", "32", "--depth", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("caption")
    caption_train.main([*TINY, "--out", str(out)])
    return out


@pytest.mark.training
def test_a_tiny_run_writes_a_card_and_weights_the_adapter_loads(run):
    card = json.loads((run / CARD).read_text())
    assert card["train"]["steps"] == 3 and card["config"]["depth"] == 2
    assert card["provenance"]["command"].startswith("python -m mminspect.lab.caption_train")
    assert {"names_every_object", "colours_right", "pointing_by_layer", "pointing_best_layer"} <= set(card["metrics"])
    assert card["image_tower"]["frozen"] and card["image_tower"]["from"] == "bundled:miniclip2"
    model = CaptionAdapter(name="tiny", path=str(run), label="tiny")
    assert model.n_layers == 2 and model.card["weights"]["sha256"] == card["weights"]["sha256"]
    shipped = load_file(str(bundled_dir("bundled:miniclip2") / "miniclip2.safetensors"))
    for name, tensor in model.model.visual.state_dict().items():
        if f"visual.{name}" in shipped:
            assert torch.equal(tensor, shipped[f"visual.{name}"]), name


@pytest.mark.training
def test_the_same_seed_gives_the_same_weights(run, tmp_path):
    caption_train.main([*TINY, "--eval", "0", "--out", str(tmp_path)])
    a, b = load_file(str(run / WEIGHTS)), load_file(str(tmp_path / WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _thing(name, colour=None):
    return Thing(kind="shape" if colour else "everyday", name=name, colour=colour, emoji=None,
                 size=0.3, cx=0.5, cy=0.5)


@pytest.mark.parametrize("caption, names, colours, exact", [
    ("a red star and a cat", True, True, True),
    ("a cat below a red star", True, True, True),
    ("a blue star and a cat", True, False, False),       # the colour is wrong
    ("a red star", False, True, False),                  # the cat is missing
    ("a red star , a cat and a dog", True, True, False),  # a dog that is not there
    ("a red circle and a cat", False, False, False),     # the wrong shape
])
def test_the_evaluation_reads_a_caption_as_a_person_would(caption, names, colours, exact):
    things = (_thing("star", "red"), _thing("cat"))
    got = scores(caption.split(), things)
    assert (got["names_every_object"], got["colours_right"], got["exact"]) == (names, colours, exact)
    assert [n for _, n, _ in named_objects("a red star and a cat".split())] == ["star", "cat"]


@pytest.mark.training
def test_the_card_program_rewrites_a_runs_card_with_the_same_figures(run, tmp_path, capsys):
    """The card program (for weights whose run could not write its card) re-measures the
    run's own figures exactly and records the run from its log."""
    from mminspect.lab import caption_recard
    for f in (CARD, WEIGHTS):
        (tmp_path / f).write_bytes((run / f).read_bytes())
    capsys.readouterr()
    caption_train.main([*TINY, "--eval", "0", "--out", str(tmp_path / "again")])   # a log to read
    (tmp_path / "train.log").write_text(capsys.readouterr().out)
    (tmp_path / CARD).unlink()
    caption_recard.main(["--folder", str(tmp_path), "--log", str(tmp_path / "train.log"), "--eval", "8",
                       "--train-commit", "abc", "--train-started", "2026-01-01T00:00Z",
                       "--train-args", " ".join([*TINY, "--out", str(run)])])
    own, rewritten = (json.loads((d / CARD).read_text()) for d in (run, tmp_path))
    assert rewritten["metrics"] == own["metrics"]
    assert rewritten["weights"] == own["weights"]
    assert rewritten["training"]["command"].startswith("python -m mminspect.lab.caption_train")
    assert rewritten["provenance"]["command"].startswith("python -m mminspect.lab.caption_recard")
    assert CaptionAdapter(name="again", path=str(tmp_path), label="x").n_layers == 2


def test_the_object_weight_counts_naming_words_and_end_w_times():
    """--object-weight W: each colour, shape or thing target and [END] counts W times in the
    loss mean, every other word once, padding never; W = 1 is the plain mean."""
    from mminspect.fusion.caption import caption_loss, caption_vocabulary
    from mminspect.fusion.words import role_of
    from mminspect.lab.fusion_train import build_pool
    _, cfg = caption_train.parse(["--out", "x", "--pool", "16", "--batch", "8", "--object-weight", "3"])
    pool = build_pool(cfg, log=lambda *_: None)
    _, ids, targets, weights = caption_train.make_batch(cfg, pool, 0)
    vocab = caption_vocabulary()
    for row_t, row_w in zip(targets.tolist(), weights.tolist()):
        for t, w in zip(row_t, row_w):
            want = 0.0 if t < 0 else 3.0 if (vocab[t] == "[END]" or role_of(vocab[t])) else 1.0
            assert w == want, (vocab[t] if t >= 0 else "pad", w)
    logits = torch.randn(*targets.shape, len(vocab))
    plain = caption_train.weighted_loss(logits, targets, (targets >= 0).float())
    assert torch.allclose(plain, caption_loss(logits, targets))
    weighted = caption_train.weighted_loss(logits, targets, weights)
    ce = torch.nn.functional.cross_entropy(logits[targets >= 0], targets[targets >= 0], reduction="none")
    assert torch.allclose(weighted, (ce * weights[targets >= 0]).sum() / weights[targets >= 0].sum())
