"""Per-head attention statistics for the causal lab's "attention vs importance" scatter:
the head summary's six, plus the largest weight each query gives (its mean over queries)."""
from __future__ import annotations

import numpy as np

from ..explain import head_summary
from ..types import AttentionMaps


def head_statistics(maps: AttentionMaps) -> dict[str, np.ndarray]:
    """{name: float32 [layer, head]}: entropy, distance, special, self_, previous, first (as
    `head_summary`) and max (how peaked a head is: 1 = each query looks at one token)."""
    summary = head_summary(maps)
    stats = {name: getattr(summary, name) for name in summary.METRICS}
    stats["max"] = maps.weights.max(-1).mean(-1).astype(np.float32)     # [layer, head]
    return stats
