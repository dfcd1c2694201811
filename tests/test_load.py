"""The quick version of the load and abuse suite (`python -m mminspect.lab.load` is the full
one): a few concurrent clients against the app launched on loopback, and one test per abuse
family. No timing or memory assertions (a busy 2-core machine): every request must end as
ok / rejected / errored within a generous timeout, and abuse must get the app's own message."""
from __future__ import annotations

import os
import random
import time

import pytest

from mminspect.lab import load

TIMEOUT = 300          # seconds per request, queue wait included (only "hung" if exceeded)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return load.Inputs(tmp_path_factory.mktemp("load-inputs"))


@pytest.fixture
def session(app_url, inputs):
    s = load.Session(app_url, 0, load.Runner(app_url, inputs, TIMEOUT, seed=0))
    yield s
    s.client.close()


QUEUE_TRIES = 5        # a case the queue refused is asked again, 2 s apart, at most this often


def run_cases(session, *names, retry=True):
    """Run cases in one session; [Result] with the suite's own checks applied. The suite counts
    a queue refusal (queue full, or this session still holds a model slot) as fine for any
    case, but then the app never saw the input: such a case is asked again (bounded), so the
    test sees the app's own answer. retry=False: a case whose point is a refusal (flood)."""
    out = []
    for name in names:
        for _ in range(QUEUE_TRIES if retry else 1):
            got = session.runner.run_case(session, name, random.Random(0), "test")
            if not any(map(load.queue_refused, got)):
                break
            time.sleep(session.runner.backoff_s)
        out += got
    return out


def assert_clean(results, queue_may_refuse=False):
    """No hang, no problem found by the suite's checks, and (unless queue_may_refuse) every
    request reached the app: a queue refusal would pass `expect` without testing anything."""
    for r in results:
        assert r.outcome != "hung", f"{r.case} hung"
        assert queue_may_refuse or not load.queue_refused(r), (
            f"{r.case}: refused by the queue each time it was asked ({r.message!r}), "
            "so the app never saw the input")
        assert not r.problems, f"{r.case}: {r.problems} (outcome {r.outcome}, {r.message!r})"


def test_quick_load_three_clients_every_request_accounted_for_none_hung(app_url):
    plans = [["text_short", "redraw", "attribute:saliency", "image_scene", "bertviz",
              "corrupt_png", "text_short", "redraw"],
             ["text_short", "image_large", "attribute:integrated_gradients", "redraw",
              "text_long", "labels_500", "image_scene", "text_short"],
             ["text_short", "bertviz", "image_scene", "attribute:input_x_gradient", "redraw",
              "text_short", "image_large", "redraw"]]
    rec = load.run(url=app_url, plans=plans, warm_up=(), closing=("text_short",), probe=False,
                   timeout=TIMEOUT, settle_s=0, rss_limit=float("inf"), log=lambda _: None)
    assert rec["submitted"] == sum(map(len, plans)) + 3 == 27     # + one closing request each
    assert rec["submitted"] == rec["ok"] + rec["rejected"] + rec["errored"]
    assert rec["hung"] == 0
    assert rec["health"]["outcome"] == "ok"                   # the app keeps serving
    ordinary = [r for r in rec["requests"] if r["case"] in load.NORMAL]
    assert [r for r in ordinary if r["outcome"] == "errored"] == []
    assert {r["case"]: r["outcome"] for r in rec["requests"] if r["case"] in load.ABUSE} == {
        "corrupt_png": "rejected", "labels_500": "rejected"}
    assert {k: v["problems"] for k, v in rec["checks"].items() if v["failed"]} == {}
    assert rec["rss_mb"]["after_warm_up"] and rec["rss_mb"]["end"]   # RSS was read
    assert set(rec["per_endpoint"]) >= {"/inspect_text", "/redraw_text", "/attribute_text",
                                        "/inspect_clip", "/bertviz"}


def test_broken_and_oversized_image_files_get_the_apps_own_message(session):
    results = run_cases(session, "corrupt_png", "text_png", "bomb_png")
    assert_clean(results)
    assert [r.outcome for r in results] == ["rejected"] * 3
    assert "megapixels" in results[2].message
    assert_clean(run_cases(session, "text_short"))            # still serving


def test_too_many_labels_and_too_long_texts_are_refused_before_any_model_work(session):
    results = run_cases(session, "labels_500", "text_30k")
    assert_clean(results)
    assert [r.outcome for r in results] == ["rejected", "rejected"]
    assert "limit" in results[0].message and "20,000" in results[1].message


# User text with <img onerror>, <a href> and <script> must come back escaped in every output
# (no live element), and the request must have reached the app (assert_clean).
@pytest.mark.parametrize("case", ["xss_text", "xss_attr", "xss_clip"])
def test_user_html_never_comes_back_as_a_live_element(session, case):
    assert_clean(run_cases(session, case))


def test_non_numeric_slider_values_get_a_clear_message(session):
    assert_clean(run_cases(session, "slider_text"))


def test_a_call_with_too_few_arguments_gets_a_clear_message(session):
    assert_clean(run_cases(session, "too_few_args"))


def test_one_session_cannot_hold_more_than_its_share_of_model_slots(session):
    results = run_cases(session, "flood", retry=False)
    assert_clean(results, queue_may_refuse=True)          # the refusal is what is tested
    assert len(results) == 3 and "rejected" in [r.outcome for r in results]
    assert_clean(run_cases(session, "text_short"))


def test_server_paths_in_the_model_box_reveal_nothing_when_custom_models_are_off(
        monkeypatch, inputs):
    from mminspect.ui import build_app, launch_kwargs
    monkeypatch.setenv("MMINSPECT_ALLOW_CUSTOM_MODELS", "0")
    demo = build_app()
    port = load.free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)
    try:
        results, problems = load.probe_paths(f"http://127.0.0.1:{port}/", inputs, TIMEOUT,
                                             time.perf_counter())
    finally:
        demo.close()
    assert problems == []
    assert_clean(results)
    assert [r.outcome for r in results] == ["rejected"] * len(load.PATHS_PROBED)


def test_gradio_cache_files_of_a_request_are_deleted_by_the_apps_cache_cleaner(inputs):
    """The app's delete_cache runs with its own launch settings (middleware included); here
    with (1 s, 1 s) instead of its sweep every 5 min of files older than the upload quota's
    window, so the test sees the files go."""
    from gradio_client import Client

    from mminspect.ui import build_app, launch_kwargs
    from mminspect.ui.uploads import upload_keep_s
    demo = build_app()
    keep = upload_keep_s()
    assert demo.delete_cache == (min(300, keep), keep)
    demo.delete_cache = (1, 1)
    port = load.free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        client.predict(**load.clip_kwargs(inputs.path("scene.png"), inputs.scene_prompts),
                       api_name="/inspect_clip")
        kept = {f for b in demo.blocks.values() for f in getattr(b, "keep_in_cache", ())}
        files = {f for s in demo.temp_file_sets for f in s} - kept   # defaults stay, by design
        assert files, "an image request leaves files in gradio's cache"
        end = time.time() + 60
        while time.time() < end and any(os.path.exists(f) for f in files):
            time.sleep(0.5)
        left = [f for f in files if os.path.exists(f)]
        client.close()
    finally:
        demo.close()
    assert left == []


def test_the_suite_refuses_anything_but_loopback():
    for url in ("http://example.com/", "http://10.0.0.1:7860/", "http://0.0.0.0:7860/",
                "file:///etc/passwd"):
        with pytest.raises(ValueError, match="loopback"):
            load.loopback_url(url)
    assert load.loopback_url("http://127.0.0.1:7860") == "http://127.0.0.1:7860/"
    assert load.loopback_url("http://localhost:1/") == "http://localhost:1/"


def test_answers_are_classified_by_the_message_line():
    update = {"__type__": "update"}
    assert load.classify_message(["x", ""], 1) == ("ok", "")
    assert load.classify_message([update, "⚠️ The text is too long; the limit is 5."], 1)[0] == "rejected"
    assert load.classify_message([update, "⚠️ Something went wrong (KeyError)."], 1)[0] == "errored"
    assert load.classify_message([update, update], 1) == ("errored", "no result and no message")
    assert load.classify_exception(TimeoutError())[0] == "hung"
    assert load.classify_exception(ValueError("The upstream Gradio app has raised an exception"))[0] \
        == "errored"
    plan = load.make_plan(3, 10, seed=1)
    assert [p[0] for p in plan] == ["text_short"] * 3 and sum(map(len, plan)) == 30
    assert set(load.ABUSE) <= {n for p in plan for n in p}


# --- the hosting probes (python -m mminspect.lab.load --hosting runs them in full) ---------

from mminspect.lab.load import hosting as probes   # noqa: E402


@pytest.fixture
def behind_one_proxy(monkeypatch):
    """As on a Space: the probes play the one trusted proxy (read on every request)."""
    monkeypatch.setenv("MMINSPECT_TRUSTED_PROXIES", "1")


def test_a_spoofed_address_flood_gets_one_address_share_and_a_visitor_is_served(
        app_url, behind_one_proxy):
    rec = probes.probe_spoof(app_url, n=20, log=lambda _: None)
    assert rec["accepted"] <= 8 and rec["refused"] == 20 - rec["accepted"], rec
    assert rec["visitor_inspect"] == "complete" and rec["visitor_redraw"] == "complete", rec


def test_bad_values_to_several_endpoints_get_the_apps_words(app_url):
    rec = probes.probe_bad_values(app_url, only=("inspect_text", "redraw_text", "trace_head",
                                                 "compare_attributions"), log=lambda _: None)
    assert rec["sent"] > 60 and rec["problems"] == [], rec["problems"][:5]


def test_compare_alls_nobody_listens_to_cost_no_cpu(app_url, behind_one_proxy):
    rec = probes.probe_unheard(app_url, os.getpid(), wait_s=8, log=print)
    assert rec["joined"] == 3 and rec["passed"], rec


def test_uploads_past_the_quota_are_refused_in_the_apps_words(app_url, behind_one_proxy):
    rec = probes.probe_uploads(app_url, n=32, mb=0.2, log=lambda _: None)
    assert rec["accepted"] == 30 and rec["other_client"] == 200 and rec["passed"], rec
