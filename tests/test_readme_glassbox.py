"""The documented check_attention example (docs/glass-box.md, linked from the README) runs as
printed: the code block is read from the page itself and executed, and its claim (PASSED;
dropping the 1/√d is named 'no_scale') holds."""
import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "glass-box.md"


def _example() -> str:
    section = PAGE.read_text().split("## Glass-box attention (library)", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    code = next(b for b in blocks if "def my_attention" in b)
    assert len(code.strip().splitlines()) <= 10, "the page promises a <= 10-line example"
    return code


def test_readme_check_attention_example_runs_and_passes():
    code = _example()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/glass-box.md", "exec"), {})
    assert out.getvalue().startswith("PASSED: max error")


def test_readme_example_without_the_scale_is_diagnosed():
    code = _example().replace(" / math.sqrt(d)", "")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/glass-box.md", "exec"), {})
    assert out.getvalue().startswith("FAILED") and "'no_scale'" in out.getvalue()
