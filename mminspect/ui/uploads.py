"""Upload quota per client and overall: count, bytes and age, in the app's words.

gradio takes every POST /gradio_api/upload (up to max_file_size each) into its cache folder and
keeps it until its cache sweep (Blocks(delete_cache=…)): measured, 20 × 9.5 MB were accepted
in 0.6 s and kept for an hour, so one script could fill a disk in minutes. `UploadQuota`
(ASGI middleware) refuses an upload before gradio reads it when it would take the client
(clients.client_address) past MMINSPECT_UPLOADS_PER_CLIENT files (default 30) or
MMINSPECT_UPLOAD_MB_PER_CLIENT (default 100), all clients past MMINSPECT_UPLOAD_MB_TOTAL
(default 2048), or the disk under MMINSPECT_DISK_RESERVE_MB free (default 1024). What counts
is what arrived in the last MMINSPECT_UPLOAD_KEEP_S seconds (default 1800): the app's cache
sweep deletes files after that age (ui/app.py), so the quota bounds what is on disk.

An upload must say its size (Content-Length, as browsers and gradio_client do); one that does
not is refused, since its size is known only after it is stored.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import deque
from types import SimpleNamespace

from .clients import client_address
from .hosting import env_int

MB = 2**20


class Quota:
    """The record of recent uploads: (time, client, bytes, files), oldest first."""

    def __init__(self, per_client: int | None = None, mb_per_client: int | None = None,
                 mb_total: int | None = None, keep_s: int | None = None,
                 reserve_mb: int | None = None, folder: str | None = None):
        self.per_client = per_client or env_int("MMINSPECT_UPLOADS_PER_CLIENT", 30)
        self.bytes_per_client = (mb_per_client or env_int("MMINSPECT_UPLOAD_MB_PER_CLIENT", 100)) * MB
        self.bytes_total = (mb_total or env_int("MMINSPECT_UPLOAD_MB_TOTAL", 2048)) * MB
        self.keep_s = keep_s or upload_keep_s()
        self.reserve = (reserve_mb if reserve_mb is not None
                        else env_int("MMINSPECT_DISK_RESERVE_MB", 1024, minimum=0)) * MB
        self.folder = folder
        self.records: deque = deque()
        self.lock = threading.Lock()

    def _recent(self, now: float) -> None:
        while self.records and now - self.records[0][0] > self.keep_s:
            self.records.popleft()

    def refusal(self, client: str, size: int, now: float | None = None) -> str | None:
        """Why an upload of `size` bytes from `client` is refused, or None to take it."""
        now = time.time() if now is None else now
        with self.lock:
            self._recent(now)
            mine = [r for r in self.records if r[1] == client]
            files, used = sum(r[3] for r in mine), sum(r[2] for r in mine)
            total = sum(r[2] for r in self.records)
        minutes = max(1, round(self.keep_s / 60))
        if files >= self.per_client or used + size > self.bytes_per_client:
            return (f"Upload refused: this server takes at most {self.per_client} files and "
                    f"{self.bytes_per_client // MB} MB per visitor in {minutes} minutes, and you "
                    "have reached that. Use the files you already uploaded, or try again later.")
        if total + size > self.bytes_total:
            return ("Upload refused: this server has taken as many uploads as it keeps for "
                    f"now ({self.bytes_total // MB} MB in {minutes} minutes, from all "
                    "visitors). Try again in a few minutes.")
        if self.reserve and free_bytes(self.folder) - size < self.reserve:
            return "Upload refused: the server is out of disk space. Try again later."
        return None

    def record(self, client: str, size: int, files: int, now: float | None = None) -> None:
        with self.lock:
            self.records.append((time.time() if now is None else now, client, size, files))


def upload_keep_s() -> int:
    """Seconds an upload is kept (and counted): MMINSPECT_UPLOAD_KEEP_S, default 1800."""
    return env_int("MMINSPECT_UPLOAD_KEEP_S", 1800, minimum=60)


def free_bytes(folder: str | None) -> int:
    try:
        return shutil.disk_usage(folder or tempfile.gettempdir()).free
    except OSError:
        return 1 << 62                       # unknown: do not refuse on its account


def _plain(send, status: int, text: str):
    async def answer():
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return answer()


class UploadQuota:
    """ASGI middleware applying one `Quota` to POST …/upload (starlette builds it once per
    app, so one record per server)."""

    def __init__(self, app, quota: Quota | None = None):
        self.app = app
        self.quota = quota or Quota()

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or not scope.get("path", "").rstrip("/").endswith("/upload")):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope["headers"]}
        try:
            size = int(headers.get("content-length", ""))
        except ValueError:
            return await _plain(send, 411, "Upload refused: the request did not say its size "
                                           "(Content-Length). Send it as a browser does.")
        client = client_address(_Request(scope, headers))
        quota = self.quota
        why = quota.refusal(client, size)
        if why:
            return await _plain(send, 429 if "disk" not in why else 507, why)
        answer = {"status": 0, "body": b""}

        async def watch(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body" and len(answer["body"]) < 65536:
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, watch)
        if answer["status"] == 200:
            try:
                files = len(json.loads(answer["body"]))
            except (ValueError, TypeError):
                files = 1
            quota.record(client, size, max(1, files))


class _Request(SimpleNamespace):
    """What client_address reads, from an ASGI scope."""

    def __init__(self, scope, headers: dict[str, str]):
        peer = scope.get("client") or ("", 0)
        super().__init__(client=SimpleNamespace(host=peer[0]), headers=headers)
