"""Uploads have a quota per client and overall (count, bytes, age), refused in the app's words
before gradio stores anything; an upload that does not say its size is refused."""
from __future__ import annotations

import gradio as gr
import httpx
import pytest
from starlette.middleware import Middleware

from mminspect.ui import uploads
from mminspect.ui.sessions import SessionsMiddleware
from mminspect.ui.uploads import MB, Quota, UploadQuota

from conftest import free_port


def test_the_record_counts_only_what_is_younger_than_the_keep_time():
    quota = Quota(per_client=2, mb_per_client=10, mb_total=100, keep_s=60, reserve_mb=0)
    quota.record("a", MB, 1, now=1000.0)
    quota.record("a", MB, 1, now=1030.0)
    assert "at most 2 files" in quota.refusal("a", MB, now=1050.0)
    assert quota.refusal("b", MB, now=1050.0) is None            # another client
    assert quota.refusal("a", MB, now=1061.0) is None            # the first is older than 60 s


@pytest.fixture
def upload_app(monkeypatch, tmp_path):
    monkeypatch.setenv("MMINSPECT_TRUSTED_PROXIES", "1")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    quota = Quota(per_client=3, mb_per_client=5, mb_total=8, keep_s=600, reserve_mb=0,
                  folder=str(tmp_path))
    with gr.Blocks() as demo:
        f, out = gr.File(), gr.Textbox()
        gr.Button().click(lambda x: "ok", f, out)
    demo.queue()
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True,
                app_kwargs={"middleware": [Middleware(UploadQuota, quota=quota),
                                           Middleware(SessionsMiddleware)]})
    yield f"http://127.0.0.1:{port}/", quota
    demo.close()


def upload(url: str, mb: float, client: str) -> httpx.Response:
    data = b"x" * int(mb * MB)
    return httpx.post(url + "gradio_api/upload", files={"files": ("a.bin", data)},
                      headers={"X-Forwarded-For": client}, timeout=30)


def test_uploads_past_a_clients_count_or_bytes_or_the_total_are_refused(upload_app):
    url, quota = upload_app
    for _ in range(3):
        r = upload(url, 0.5, "10.0.0.1")
        assert r.status_code == 200 and len(r.json()) == 1
    r = upload(url, 0.5, "10.0.0.1")                           # a fourth file
    assert r.status_code == 429 and "at most 3 files and 5 MB per visitor" in r.text
    assert "Traceback" not in r.text and "/" not in r.text.replace(" / ", "")
    assert upload(url, 4.0, "10.0.0.2").status_code == 200     # another visitor is served
    r = upload(url, 2.0, "10.0.0.2")                           # past 5 MB for this visitor
    assert r.status_code == 429 and "per visitor" in r.text
    r = upload(url, 3.0, "10.0.0.3")                           # 1.5 + 4 + 3 > 8 MB overall
    assert r.status_code == 429 and "from all visitors" in r.text
    assert upload(url, 1.0, "10.0.0.3").status_code == 200


def test_a_nearly_full_disk_refuses_uploads_with_its_own_message(upload_app, monkeypatch):
    url, quota = upload_app
    quota.reserve = 100 * MB
    monkeypatch.setattr(uploads, "free_bytes", lambda folder: 50 * MB)
    r = upload(url, 0.1, "10.0.0.9")
    assert r.status_code == 507 and "out of disk space" in r.text


def test_an_upload_that_does_not_say_its_size_is_refused(upload_app):
    url, _ = upload_app

    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\n"
        yield b"x" * 1000 + b"\r\n--b--\r\n"

    r = httpx.post(url + "gradio_api/upload", content=body(),
                   headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=30)
    assert r.status_code == 411 and "Content-Length" in r.text
