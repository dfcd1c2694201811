"""The README a newcomer reads: short, its commands and code run as written, its links lead
somewhere, and every section that moved out of it lives on in docs/."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# The long sections the README once held, and the page each lives in now.
MOVED = {
    "app.md": ["## Choosing a model", "## The Text tab", "## The Attributions tab",
               "## The Image–text tab", "### SigLIP models", "## How attention works & lessons"],
    "trust.md": ["## Can I trust this map?"],
    "mini-clips.md": ["## mini-CLIP", "## mini-CLIP 2"],
    "python-api.md": ["## Python API", "## Keep and share: JSON, reports, the command line, notebooks"],
    "causal-lab.md": ["## Causal lab (library)", "## Causal lab (in the app)"],
    "glass-box.md": ["## Glass-box attention (library)"],
    "architecture.md": ["## How it is built"],
    "performance.md": ["## Benchmark", "## Limits, time budget and what attributions cost"],
    "load-suite.md": ["## Hosting and load"],
    "testing.md": ["# What the tests cover"],
}


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_readme_is_short_and_starts_with_a_picture_and_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= 400, len(lines)
    body = README.split("\n---\n", 1)[1]                       # after the Spaces front matter
    first = body.strip().splitlines()[:6]
    assert first[0] == "# mminspect" and first[2].startswith("![")
    image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", first[2]).group(1)
    assert (ROOT / image).is_file() and (ROOT / image).stat().st_size < 400_000
    assert first[4] == "```bash" and first[5].startswith("pip install -r requirements.txt && python app.py")


def test_the_readme_test_command_is_what_ci_runs():
    command = _blocks(README, "bash")[0].splitlines()[1].split("   #")[0].strip()
    # CI runs the same line with apt's and pip's output quietened (-qq, -q)
    ci = [re.sub(r" -q+(?= )", "", ln) for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci, command
    assert "fonts-noto-cjk" in command


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                                  *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):                        # http:, https:, mailto:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_every_section_moved_out_of_the_readme_lives_in_docs():
    for page, headings in MOVED.items():
        text = (ROOT / "docs" / page).read_text()
        assert f"docs/{page}" in README, page
        for h in headings:
            assert re.search(rf"^{re.escape(h)}$", text, flags=re.M), (page, h)


def test_the_readme_python_example_runs_as_printed(monkeypatch):
    # the host's time budget is a policy, not what the example shows: a busy test machine
    # (a 9-token forward at 0.8 s) must not turn it into a refusal
    monkeypatch.setenv("MMINSPECT_BUDGET_S", "inf")
    code = next(b for b in _blocks(README, "python") if "import mminspect as mi" in b)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["view"].attention.weights.ndim == 4
    assert scope["pix"].pointing_hit in (True, False)
    assert scope["tr"].layer == 4


def test_the_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    from mminspect.cli import main
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _blocks(README, "bash") if b.startswith("mminspect text"))
    lines = [ln for ln in block.splitlines() if ln.startswith("mminspect ")]
    assert [ln.split()[1] for ln in lines] == ["text", "attribute", "image"]
    for line in lines:
        assert main(shlex.split(line)[1:]) == 0, line
    assert (tmp_path / "report.html").is_file() and (tmp_path / "attr.json").is_file()
    assert "does not look like" in capsys.readouterr().out     # the photo's domain warning
