"""A one-line progress bar on stderr for long work (the library's progress(fraction, desc))."""
from __future__ import annotations

import sys


class Bar:
    def __init__(self, enabled: bool = True, width: int = 30, stream=None):
        self.enabled, self.width = enabled, width
        self.stream = stream or sys.stderr
        self.shown = False

    def update(self, fraction: float, desc: str = "") -> None:
        if not self.enabled:
            return
        done = int(self.width * max(0.0, min(1.0, fraction)))
        self.stream.write(f"\r[{'#' * done}{'.' * (self.width - done)}] {fraction:4.0%} {desc[:40]:<40}")
        self.stream.flush()
        self.shown = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
        return False
