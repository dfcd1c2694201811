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


def test_image_command_on_a_photo_prints_the_apps_domain_warning_and_reports_it(tmp_path, capsys):
    """A photo is outside mini-CLIP 2's world: the CLI says so, as the app does (same
    sentence: api.domain_note), and the report keeps it."""
    ex = mi.load_example("photo: Chelsea the cat")
    ex.image.save(tmp_path / "photo.jpg")
    rc = main(["image", str(tmp_path / "photo.jpg"), "--model", "miniclip2", "--prompts", "a cat",
               "a dog", "--out", str(tmp_path / "p.html")])
    out = capsys.readouterr().out
    warning = mi.api.domain_note(mi.load("miniclip2"), ex.image.convert("RGB"))
    assert rc == 0 and warning and f"warning: {warning}" in out
    assert out.index("warning:") < out.index("P(")                      # said before the numbers
    import html
    assert html.escape(warning.split("(")[0].strip(), quote=False) in (tmp_path / "p.html").read_text()


def test_image_command_on_a_scene_of_its_world_prints_no_warning(tmp_path, capsys):
    title = next(e for e in mi.list_examples() if e.startswith("mini-CLIP 2"))
    assert main(["image", title, "--model", "miniclip2"]) == 0   # the example brings its prompts
    out = capsys.readouterr().out
    assert "warning" not in out
    assert len([ln for ln in out.splitlines() if ln.startswith("P(")]) == len(mi.load_example(title).prompts)


def test_help_lists_every_bundled_model_of_the_registry(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    bundled = [m["name"] for m in mi.list_models() if m["bundled"]]
    assert len(bundled) >= 3
    for name in bundled:
        assert f"{name} (" in out


def test_an_uncached_hub_id_is_refused_offline_before_any_load(monkeypatch, capsys):
    """No network retries: the local cache and HF_HUB_OFFLINE are checked before loading, so
    from_pretrained (which retried for half a minute) is never reached."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mi.api.hub_reachable.cache_clear()

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded: the offline check came too late")
    monkeypatch.setattr(mi.api, "load", no_load)
    rc = main(["text", "hi", "--model", "nobody-here/not-a-cached-model"])
    err = capsys.readouterr().err
    assert rc == 4 and "not in this machine's Hugging Face cache" in err
    mi.api.hub_reachable.cache_clear()


def test_the_readme_command_runs_as_written(tmp_path, capsys, monkeypatch):
    """The command the README shows: a bundled example by name, so it needs no file."""
    monkeypatch.chdir(tmp_path)
    argv = ["image", "photo: Chelsea the cat", "--prompts", "a cat", "a dog", "--template",
            "a photo of {}", "--out", "report.html"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "warning: This image does not look like" in out and (tmp_path / "report.html").exists()
