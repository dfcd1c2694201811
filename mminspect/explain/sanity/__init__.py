"""Sanity checks for attribution maps: does the map depend on what the model learned?

Cascading model randomisation (Adebayo et al. 2018): re-initialise the blocks from the top
down on a copy of the model, recompute the map after each, and track the rank correlation
with the trained model's map. A map that explains the model must change once the model is
random; one that stays put shows the input (or the baseline), not the model.

The threshold (PASS_BELOW = 0.5), and why: Spearman's rho squared is the share of the rank
variance two maps have in common. At rho = 0.5 a quarter of the trained map's ranking is
still there with the top half of the model destroyed; above it, more of the map is decided
by the embeddings and lower layers (or the input alone) than a reader looking at "what the
model uses" would expect. Below it the map has lost most of its ranking. We test both the
signed scores and |scores| (Adebayo et al. report both: the absolute maps are where
gradient methods fail) and take the larger at each step: a method passes only if neither
survives. The score is the mean of that over every step from "top half random" to "all
random": one step alone is noisy (an unrelated ranking's rho spreads by 1/sqrt(n-1): 0.35
at 9 tokens, 0.13 over mini-CLIP's 64 patches), and the mean is the area under the second
half of the cascade curve. The shipped table also averages several inputs.

Data randomisation votes too, as its own flag (`target_ignored`, a caveat badge), not inside
`passed`: SAME_MAP_ABOVE = 0.9. The map of an unrelated target (a random prompt, label or
second text) on the trained model is compared with the map of the user's target; at rho >=
0.9 the two share over 80 % of their rank variance, i.e. the ranking is essentially the same
whatever is explained, and the map shows what the model reads in this input in general, not
what the target picked out. Maps that do read the target stay well below it: relevance on
mini-CLIP's scenes keeps 0.43 on average with a random prompt, IG about 0 (the shipped
table); prompt-blind maps (rollout, raw attention) give exactly 1. Some overlap is
legitimate (two prompts about one image share its object), which is why the line is not
lower; an unrelated ranking spreads by 1/sqrt(n-1) (0.13 over 64 patches), far from 0.9.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .agreement import agreement_matrix, null_sd, rank_correlation
from .caveats import (COMPLETENESS_MAX, SMALL_GAP_ABS, SMALL_GAP_REL, completeness_caveat,
                      deletion_caveat, gap_caveat, sanity_caveat, small_gap, target_caveat)
from .randomize import (IMAGE_BLOCKS, TEXT_BLOCKS, copy_bytes, model_copy, randomize_block,
                        tower_blocks)

PASS_BELOW = 0.5
SAME_MAP_ABOVE = 0.9


def target_ignored(data_score: float | None, threshold: float = SAME_MAP_ABOVE) -> bool | None:
    """Does the map stay (nearly) the same for a random target? None when none was explained."""
    return None if data_score is None else bool(data_score >= threshold)


def half_step(n_blocks: int) -> int:
    """The step at which the top half of the blocks is random (rounded up)."""
    return max(1, (n_blocks + 1) // 2)


def cascade(blocks, compute_map: Callable[[], np.ndarray], seed: int,
            before_step: Callable[[int, int], None] | None = None
            ) -> tuple[list[np.ndarray], list[int]]:
    """One map per extra block re-initialised, top block first (the trained map is the
    caller's: it runs on the untouched model).

    blocks: the copy's blocks, bottom -> top (randomised in place, cumulatively).
    compute_map() -> [feature] from the copy as it is now. before_step(k, n): called before
    step k of n (progress, cancellation). Returns (maps, n_random), k = 1..n."""
    n = len(blocks)
    maps, counts = [], []
    for k in range(1, n + 1):
        if before_step is not None:
            before_step(k, n)
        randomize_block(blocks[n - k], seed * 1_000 + k)
        maps.append(np.asarray(compute_map(), dtype=np.float32))    # [feature]
        counts.append(k)
    return maps, counts


def correlations(maps) -> tuple[np.ndarray, np.ndarray]:
    """Spearman of each map with the first (signed, |scores|): float [step] each."""
    first = maps[0]
    signed = [rank_correlation(first, m) for m in maps]
    absolute = [rank_correlation(np.abs(first), np.abs(m)) for m in maps]
    return np.array(signed), np.array(absolute)


__all__ = ["COMPLETENESS_MAX", "IMAGE_BLOCKS", "PASS_BELOW", "SAME_MAP_ABOVE", "SMALL_GAP_ABS",
           "SMALL_GAP_REL",
           "TEXT_BLOCKS", "agreement_matrix", "cascade", "completeness_caveat", "copy_bytes",
           "correlations",
           "deletion_caveat", "gap_caveat", "half_step", "model_copy", "null_sd",
           "randomize_block", "rank_correlation", "sanity_caveat", "small_gap", "target_caveat",
           "target_ignored", "tower_blocks"]
