"""`python -m mminspect.bench`: a section that fails fails the run (after the others ran), a
missed target fails it, and --json carries the figures with their provenance."""
import json
import types

from mminspect.lab import bench


def _section(value=None, error=None):
    def run(repeats):
        if error:
            raise error
        return {"checks": [(f"figure {value}", value, 1.0, "")], "value": value}
    return types.SimpleNamespace(run=run)


def test_a_failing_section_fails_the_run_and_the_others_still_run(monkeypatch, capsys):
    monkeypatch.setattr(bench, "SECTIONS", {"good": _section(0.5),
                                            "broken": _section(error=ImportError("no module x")),
                                            "after": _section(0.25)})
    assert bench.main(["--repeats", "1"]) == 1
    out = capsys.readouterr()
    assert "figure 0.5" in out.out and "figure 0.25" in out.out
    assert "FAILED sections: broken" in out.out and "no module x" in out.err


def test_a_missed_target_fails_the_run_and_all_met_passes(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "SECTIONS", {"a": _section(0.5), "b": _section(2.0)})
    assert bench.main(["--repeats", "1"]) == 1
    monkeypatch.setattr(bench, "SECTIONS", {"a": _section(0.5)})
    path = tmp_path / "bench.json"
    assert bench.main(["--repeats", "1", "--json", str(path)]) == 0
    rec = json.loads(path.read_text())
    assert rec["failed"] == [] and rec["sections"]["a"]["value"] == 0.5
    assert rec["provenance"]["command"] == f"python -m mminspect.bench --repeats 1 --json {path}"
    assert rec["provenance"]["params"]["sections"] == ["a"]


def test_glassbox_section_times_trace_head_next_to_a_bare_forward():
    from mminspect.lab import bench_glassbox
    assert bench.SECTIONS["glassbox"] is bench_glassbox
    r = bench_glassbox.run(1)
    (name, ms, goal, detail), (ratio_name, ratio, _, _) = r["checks"]
    assert "trace_head MiniLM, 32 tokens" in name and goal == 50.0 and r["tokens"] == 32
    assert ms == r["trace_ms"] > 0 and "bare forward" in ratio_name
    assert ratio == r["trace_ms"] / r["bare_forward_ms"]
    assert r["trace_max_error"] <= 1e-5
