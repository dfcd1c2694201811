"""The shipped sanity table (assets/sanity/sanity.json): it is current for this code and these
weights (the test fails as soon as a source file it recorded changes: re-run the command it
names), its staleness is computed from the recorded hashes, and the app's table says so."""
from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mminspect.api import trust_shipped  # noqa: E402
from mminspect.figures.trust import sanity_table_html  # noqa: E402
from mminspect.models.bundled import sources_sha256  # noqa: E402

COMMAND = "python -m mminspect.lab.sanity_table --json t.json"


def test_the_shipped_sanity_table_is_current_for_this_code_and_these_weights():
    """Fails after an edit of any file that produced the table: re-run its command (it
    rewrites assets/sanity/sanity.json and docs/sanity-table.md) and commit both."""
    rec = trust_shipped.shipped_sanity()
    assert rec is not None, "assets/sanity/sanity.json is missing"
    assert rec["current"], rec["stale_reason"]
    files = rec["provenance"]["code"]["files"]
    for f in ("mminspect/lab/sanity_table.py", "mminspect/explain/sanity/randomize.py",
              "mminspect/explain/pixel_attribution.py", "mminspect/explain/relevance.py"):
        assert f in files, f                              # every method's code was traced
    assert set(rec["weights_sha256"]) == {"minilm", "miniclip", "miniclip2"}
    assert set(rec["results"]) == {"minilm", "miniclip", "miniclip2"}    # every bundled model


def _record(tmp_path, monkeypatch, **changes) -> str:
    """A table whose recorded code is tmp_path/code.py, measured on today's weights."""
    monkeypatch.setattr(trust_shipped, "CODE_ROOT", tmp_path)
    (tmp_path / "code.py").write_text("x = 1\n")
    combined, files = sources_sha256(tmp_path, ["code.py"])
    rec = {"threshold": 0.5, "data_threshold": 0.9, "command": COMMAND,
           "weights_sha256": trust_shipped.bundled_weights(),
           "results": {"minilm": {"saliency": {"score": 0.3, "passed": True, "passed_inputs": 4,
                                               "n": 4, "data_spearman": 0.95}}},
           "provenance": {"code": {"files": files, "sha256": combined}}}
    rec.update(changes)
    path = tmp_path / "sanity.json"
    path.write_text(json.dumps(rec))
    return str(path)


def test_the_table_is_stale_when_a_source_file_changes(tmp_path, monkeypatch):
    path = _record(tmp_path, monkeypatch)
    rec = trust_shipped.shipped_sanity(path)
    assert rec["current"] and rec["stale_reason"] is None
    assert "Stale" not in sanity_table_html(rec)
    (tmp_path / "code.py").write_text("x = 2\n")                      # the code changed
    rec = trust_shipped.shipped_sanity(path)
    assert not rec["current"]
    assert "code.py" in rec["stale_reason"] and COMMAND in rec["stale_reason"]
    html = sanity_table_html(rec)
    assert "mm-sanity-stale" in html and "code.py" in html
    (tmp_path / "code.py").unlink()                                   # or went away
    assert not trust_shipped.shipped_sanity(path)["current"]


def test_the_table_is_stale_on_other_weights_or_without_hashes(tmp_path, monkeypatch):
    weights = {**trust_shipped.bundled_weights(), "miniclip": "0" * 64}
    rec = trust_shipped.shipped_sanity(_record(tmp_path, monkeypatch, weights_sha256=weights))
    assert not rec["current"] and "other weights of miniclip" in rec["stale_reason"]
    rec = trust_shipped.shipped_sanity(_record(tmp_path, monkeypatch, weights_sha256=None))
    assert not rec["current"] and "no hash of the weights" in rec["stale_reason"]
    rec = trust_shipped.shipped_sanity(_record(tmp_path, monkeypatch, provenance={}))
    assert not rec["current"] and "no hash of the code" in rec["stale_reason"]
    assert trust_shipped.shipped_sanity(tmp_path / "absent.json") is None


def test_a_stale_table_still_gives_its_verdicts_and_says_they_are_old(tmp_path, monkeypatch):
    path = _record(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 2\n")
    v = trust_shipped.shipped_verdict("minilm", "saliency", trust_shipped.shipped_sanity(path))
    assert v["current"] is False and v["data_score"] == 0.95 and v["data_threshold"] == 0.9
    html = sanity_table_html(trust_shipped.shipped_sanity(path))
    assert "+0.95" in html and "ignores it" in html                  # 0.95 >= 0.9
