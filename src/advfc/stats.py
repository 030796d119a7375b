"""Paired comparisons of two arms on the same evaluation items (METHOD.md, "Baselines and the
experiment"): a paired bootstrap interval of the accuracy difference and McNemar's exact test.

Verdicts are 0/1 matrices of shape (seeds, items): row s of both arms is seed s, column i item i.
The bootstrap resamples items (the same resampled items for every seed, so the pairing across
seeds is kept) and averages over seeds; the seeds' own spread is part of every resample's mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class PairedDifference:
    diff: float  # mean accuracy of a minus b, over seeds and items
    low: float  # 95 % percentile interval of the paired bootstrap
    high: float
    a_only: int  # discordant pairs, pooled over seeds: a correct, b wrong
    b_only: int
    p_mcnemar: float
    seeds: int
    items: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high

    def to_dict(self) -> dict:
        return {**asdict(self), "within_noise": self.within_noise}


def paired_difference(a: np.ndarray, b: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, rng_seed: int = 0) -> PairedDifference:
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired verdicts need equal non-empty shapes, got {a.shape} and {b.shape}")
    seeds, items = a.shape
    per_item = (a - b).mean(axis=0)  # the seed average of each item's difference
    rng = np.random.default_rng(rng_seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 1000):  # chunks keep the index matrix small
        n = min(1000, resamples - start)
        means[start : start + n] = per_item[rng.integers(0, items, size=(n, items))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    a_only = int(((a == 1) & (b == 0)).sum())
    b_only = int(((a == 0) & (b == 1)).sum())
    return PairedDifference(float(per_item.mean()), float(low), float(high), a_only, b_only,
                            mcnemar_exact(a_only, b_only), seeds, items)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs against Binomial(n, 1/2)."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
