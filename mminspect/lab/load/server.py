"""The server under test: started as `python app.py` on a free loopback port (or a running
one on loopback), its RSS over time and its gradio cache folder."""
from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from ..provenance import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_url(url: str) -> str:
    """The URL, if it points at this machine's loopback; a ValueError otherwise."""
    u = urlparse(url)
    host = u.hostname or ""
    ok = host == "localhost"
    try:
        ok = ok or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if u.scheme not in ("http", "https") or not ok:
        raise ValueError(f"{url!r} is not a loopback URL: the load suite only targets "
                         "127.0.0.0/8, ::1 or localhost (never a public server).")
    return url if url.endswith("/") else url + "/"


class Server:
    """`python app.py` on a free loopback port, with its own gradio cache folder."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, name: str = "server"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.cache = folder / f"{name}-gradio-cache"
        self.log_path = folder / f"{name}.log"
        full = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_TEMP_DIR": str(self.cache), "TOKENIZERS_PARALLELISM": "false",
                **(env or {})}
        full.setdefault("HF_HUB_OFFLINE", "1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
                                     cwd=ROOT, env=full, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 300) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def pid_listening_on(port: int) -> int | None:
    """The process that listens on a loopback TCP port (for --url), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:                   # gone, or not ours to read
            continue
        for fd in fds:
            try:
                # per fd: a busy server closes files while it is scanned; one that vanished
                # must not end the scan of the process that holds the socket
                if os.readlink(fd) in inodes:
                    return int(proc.name)
            except OSError:
                continue
    return None


def memory_mb(pid: int | None) -> dict[str, float] | None:
    """{"rss": VmRSS, "hwm": VmHWM} in MB, from /proc/<pid>/status."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out = {}
    for key, name in (("VmRSS", "rss"), ("VmHWM", "hwm")):
        m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        if m:
            out[name] = int(m.group(1)) / 1024
    return out or None


class RssSampler(threading.Thread):
    def __init__(self, pid: int | None, t0: float, every: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.t0, self.every = pid, t0, every
        self.samples: list[tuple[float, float]] = []          # (seconds since start, MB)
        self.marks: dict[str, float] = {}
        self.stopped = threading.Event()

    def sample(self) -> float | None:
        m = memory_mb(self.pid)
        if m and "rss" in m:
            self.samples.append((round(time.perf_counter() - self.t0, 2), round(m["rss"], 1)))
            return m["rss"]
        return None

    def mark(self, name: str) -> float | None:
        self.marks[name] = round(time.perf_counter() - self.t0, 2)
        return self.sample()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.sample()


def cache_files(folder: Path | None) -> dict | None:
    if folder is None or not folder.exists():
        return None
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 2**20, 2)}
