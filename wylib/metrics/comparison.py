"""Two independent sets compared on one per-item 0/1 outcome (e.g. S.U.N.): difference, interval, test.

`proportion_difference(a, b)` gives 100 * (mean(a) - mean(b)) in percentage points, a percentile
bootstrap interval that resamples both sets independently, and the two-sided p-value of Fisher's
exact test on the 2x2 table (a: successes / failures, b: successes / failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import fisher_exact

from wylib.metrics.bootstrap import CI, bootstrap_ci


@dataclass(frozen=True)
class ProportionDifference:
    """a minus b, in percentage points, with its interval and Fisher's exact test."""

    difference: CI
    p_value: float
    n_a: int
    k_a: int
    n_b: int
    k_b: int

    def __str__(self) -> str:
        return (
            f"{self.difference.value:+.1f} pp [{self.difference.low:+.1f}, {self.difference.high:+.1f}] "
            f"({self.k_a}/{self.n_a} vs {self.k_b}/{self.n_b}; Fisher exact p = {self.p_value:.3g})"
        )


def proportion_difference(
    a: Sequence[bool], b: Sequence[bool], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> ProportionDifference:
    """Difference of two proportions (percentage points) with bootstrap interval and Fisher's exact test.

    Empty sides give NaN (no exception)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.size == 0 or b.size == 0:
        nan = float("nan")
        return ProportionDifference(CI(nan, nan, nan), nan, a.size, int(a.sum()), b.size, int(b.sum()))
    ci = bootstrap_ci(lambda x, y: 100.0 * (x.mean() - y.mean()), a, b, n_boot=n_boot, seed=seed, alpha=alpha)
    ka, kb = int(a.sum()), int(b.sum())
    p = float(fisher_exact([[ka, a.size - ka], [kb, b.size - kb]]).pvalue)
    return ProportionDifference(ci, p, int(a.size), ka, int(b.size), kb)
