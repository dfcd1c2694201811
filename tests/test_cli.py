"""The command line, called as `main(argv)`: each command prints its answer and writes the
JSON (a round trip) and the offline report; bad input exits with its code and a message."""
import pytest

import mminspect as mi
from mminspect.cli import main
from mminspect.types.serialize import results_equal

PAIR = ("The cat sat on the mat.", "A dog lay on the rug.")


def test_text_command_prints_the_similarity_and_writes_json_and_report(minilm, tmp_path, capsys):
    rc = main(["text", PAIR[0], "--compare", PAIR[1], "--json", str(tmp_path / "t.json"),
               "--out", str(tmp_path / "t.html")])
    assert rc == 0
    view = mi.inspect_text(minilm, PAIR[0], compare_to=PAIR[1])
    assert f"{view.prediction.similarity:.4f}" in capsys.readouterr().out
    assert results_equal(mi.load_result(tmp_path / "t.json").attention, view.attention)
    page = (tmp_path / "t.html").read_text()
    assert "mi.inspect_text(model, &#x27;The cat sat on the mat.&#x27;, compare_to=" in page


def test_attribute_command_shows_progress_and_the_top_words(minilm, tmp_path, capsys):
    rc = main(["attribute", PAIR[0], "--labels", "animals", "sport", "--method", "saliency",
               "--json", str(tmp_path / "a.json")])
    out = capsys.readouterr()
    assert rc == 0 and "saliency on zero-shot log-odds" in out.out
    assert "100%" in out.err                                         # the progress bar ended
    attr = mi.load_result(tmp_path / "a.json")
    top = max(range(len(attr.words)), key=lambda i: abs(float(attr.word_scores[i])))
    assert f"{attr.word_scores[top]:+.4f}  {attr.words[top]}" in out.out


def test_image_command_reads_a_file_and_reports(tmp_path, capsys):
    ex = mi.load_example("scene 1: a red star and a green star")
    ex.image.save(tmp_path / "scene.png")
    rc = main(["image", str(tmp_path / "scene.png"), "--prompts", *ex.prompts[:2],
               "--out", str(tmp_path / "i.html")])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([ln for ln in lines if ln.startswith("P(")]) == 2
    assert "data:image/png;base64," in (tmp_path / "i.html").read_text()


@pytest.mark.parametrize("argv, code, words", [
    (["text", ""], 3, "empty"),
    (["image", "/nonexistent/x.png", "--prompts", "a"], 3, "No image file"),
    (["attribute", "x", "--compare", "y", "--baseline", "nope"], 3, "baseline"),
])
def test_bad_input_exits_with_its_code_and_a_message(argv, code, words, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["attribute", "x", "--method", "nope"])
    assert e.value.code == 2
