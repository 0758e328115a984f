"""Two independent sets compared on one per-item 0/1 outcome (e.g. S.U.N.): difference, interval, test.

`proportion_difference(a, b)` gives 100 * (mean(a) - mean(b)) in percentage points, a percentile
bootstrap interval that resamples both sets independently, and the two-sided p-value of Fisher's
exact test on the 2x2 table (a: successes / failures, b: successes / failures). `proportion_trend` gives
the slope of a proportion against log2 of a size (percentage points per doubling), e.g. over a learning curve.
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

    def interval(self, digits: int = 1) -> str:
        """The interval of the difference as text, e.g. "[-26.4, -13.4]"."""
        return f"[{self.difference.low:+.{digits}f}, {self.difference.high:+.{digits}f}]"

    def __str__(self) -> str:
        return (
            f"{self.difference.value:+.1f} pp {self.interval()} "
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


def proportion_trend(
    sizes: Sequence[float], outcomes: Sequence[Sequence[bool]], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> CI:
    """Least-squares slope of 100 * mean(outcome) against log2(size): percentage points per doubling.

    One independent set of 0/1 outcomes per size (e.g. S.U.N. flags of models trained on growing data);
    the interval resamples every set independently. Needs two or more distinct positive sizes."""
    x = np.log2(np.asarray(sizes, float))
    if len(outcomes) != x.size:
        raise ValueError(f"{x.size} sizes but {len(outcomes)} outcome sets")
    if x.size < 2 or np.unique(x).size < 2 or not np.all(np.isfinite(x)):
        raise ValueError("a trend needs two or more distinct positive sizes")
    xc = x - x.mean()

    def slope(*sets: np.ndarray) -> float:
        y = np.array([100.0 * s.mean() if s.size else np.nan for s in sets])
        return float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))

    return bootstrap_ci(slope, *[np.asarray(o, bool) for o in outcomes], n_boot=n_boot, seed=seed, alpha=alpha)
