"""The classroom in small, against the running app: a cheap click finishes while another
visitor's long job runs in the other lane, and a visitor queued behind a long job is told
their place in the queue (and, once that event has run, an estimate)."""
from __future__ import annotations

import random
import time

import pytest

from mminspect.lab.load.classroom import compare_kwargs, inspect_kwargs, trace_kwargs

# ~60 tokens: compare-all runs for several seconds here, an Inspect well under one
LONG_TEXT = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, "
             "tired but very happy with all of the silver fish he had caught overnight. ") * 2


@pytest.fixture(scope="module")
def url():
    from mminspect.ui import build_app, launch_kwargs
    from tests.conftest import free_port
    demo = build_app()
    port = free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def client(url):
    from gradio_client import Client
    return Client(url, verbose=False, download_files=False)


def wait_for(job, codes, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        st = job.status()
        if st.code.name in codes:
            return st
        if job.done():
            return st
        time.sleep(0.05)
    raise AssertionError(f"no status in {codes} within {timeout} s")


def test_a_cheap_click_finishes_while_a_long_job_runs(url):
    student, other = client(url), client(url)
    student.predict(api_name="/inspect_text", **inspect_kwargs("The cat sat."))   # warm
    long_job = other.submit(api_name="/compare_attributions", **compare_kwargs(LONG_TEXT))
    assert wait_for(long_job, {"PROCESSING", "PROGRESS"}).code.name != "FINISHED"
    student.predict(api_name="/inspect_text", **inspect_kwargs("A dog ran."))
    assert not long_job.done(), "the long job ended first: the check says nothing"
    student.predict(api_name="/trace_head",
                    **trace_kwargs("The cat sat because it was warm.", random.Random(1)))
    assert not long_job.done(), "the long job ended first: the check says nothing"
    result = long_job.result(timeout=300)
    assert result is not None


def test_a_queued_visitor_sees_their_place_and_then_an_estimate(url):
    a, b = client(url), client(url)
    kwargs = compare_kwargs("The cat sat on the mat because it was warm.")
    a.predict(api_name="/compare_attributions", **kwargs)          # gradio learns its duration
    running = a.submit(api_name="/compare_attributions", **compare_kwargs(LONG_TEXT))
    wait_for(running, {"PROCESSING", "PROGRESS"})
    queued = b.submit(api_name="/compare_attributions", **kwargs)
    st = wait_for(queued, {"IN_QUEUE"}, timeout=30)
    assert st.code.name == "IN_QUEUE" and st.rank == 0 and st.queue_size >= 1
    assert st.eta is not None and st.eta > 0      # seconds, from the runs gradio has seen
    queued.cancel()
    running.result(timeout=300)
