"""The fusion training program end to end on a tiny run (a few steps): it writes weights and a
card that the adapter loads through its SHA-256 check, with the frozen image tower copied
from mini-CLIP 2; a changed weights file is refused; the same seed gives the same weights."""
import json

import pytest
import torch
from safetensors.torch import load_file

from mminspect.lab import fusion_train
from mminspect.models.fusion_adapter import FusionAdapter
from mminspect.models.miniclip_adapter import bundled_dir
from mminspect.types import ModelLoadError

pytestmark = pytest.mark.training
TINY = ["--steps", "3", "--pool", "24", "--batch", "8", "--eval", "8", "--monitor", "0",
        "--width", "32", "--depth", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fusion")
    fusion_train.main([*TINY, "--out", str(out)])
    return out


def test_a_tiny_run_writes_a_card_and_weights_the_adapter_loads(run):
    card = json.loads((run / "card.json").read_text())
    assert card["train"]["steps"] == 3 and card["config"]["depth"] == 2
    assert card["provenance"]["command"].startswith("python -m mminspect.lab.fusion_train")
    assert {"matching", "masked_colour", "masked_object", "pointing_by_layer"} <= set(card["metrics"])
    assert card["image_tower"]["frozen"] and card["image_tower"]["from"] == "bundled:miniclip2"
    model = FusionAdapter(name="tiny", path=str(run), label="tiny")
    assert model.n_layers == 2 and model.card["weights"]["sha256"] == card["weights"]["sha256"]
    # the tower is mini-CLIP 2's, unchanged by training
    shipped = load_file(str(bundled_dir("bundled:miniclip2") / "miniclip2.safetensors"))
    for name, tensor in model.model.visual.state_dict().items():
        if f"visual.{name}" in shipped:
            assert torch.equal(tensor, shipped[f"visual.{name}"]), name


def test_a_changed_weights_file_is_refused(run, tmp_path):
    for f in ("card.json", "fusion.safetensors"):
        (tmp_path / f).write_bytes((run / f).read_bytes())
    with open(tmp_path / "fusion.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        FusionAdapter(name="tampered", path=str(tmp_path), label="x")


def test_the_same_seed_gives_the_same_weights(run, tmp_path):
    fusion_train.main([*TINY, "--eval", "0", "--out", str(tmp_path)])
    a, b = load_file(str(run / "fusion.safetensors")), load_file(str(tmp_path / "fusion.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
