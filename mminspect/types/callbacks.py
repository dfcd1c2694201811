"""The two callbacks long work takes, named once for every layer that accepts them."""
from __future__ import annotations

from typing import Callable

# progress(fraction done in [0, 1], what is being done); may raise Cancelled to stop the work.
Progress = Callable[[float, str], None]
# should_stop() -> True: stop between two steps (the work raises Cancelled).
StopCheck = Callable[[], bool]
