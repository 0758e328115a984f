"""Two independent sets compared on one per-item 0/1 outcome (e.g. S.U.N.): difference, interval, test."""

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

    def cells(self, outcome: str, difference: str = "a - b, pp") -> dict:
        """Table cells: the difference, its interval, each side's count of `outcome` (k/n), Fisher's p."""
        return {
            difference: self.difference.value,
            "95 % CI": self.interval(),
            f"{outcome} a": f"{self.k_a}/{self.n_a}",
            f"{outcome} b": f"{self.k_b}/{self.n_b}",
            "Fisher p": self.p_value,
        }

    def __str__(self) -> str:
        return (
            f"{self.difference.value:+.1f} pp {self.interval()} "
            f"({self.k_a}/{self.n_a} vs {self.k_b}/{self.n_b}; Fisher exact p = {self.p_value:.3g})"
        )


def proportion_difference(
    a: Sequence[bool], b: Sequence[bool], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> ProportionDifference:
    """100 * (mean(a) - mean(b)), percentage points, with a bootstrap interval resampling both sets independently
    and the two-sided p-value of Fisher's exact test; NaN for an empty side."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.size == 0 or b.size == 0:
        nan = float("nan")
        return ProportionDifference(CI(nan, nan, nan), nan, a.size, int(a.sum()), b.size, int(b.sum()))
    ci = bootstrap_ci(lambda x, y: 100.0 * (x.mean() - y.mean()), a, b, n_boot=n_boot, seed=seed, alpha=alpha)
    ka, kb = int(a.sum()), int(b.sum())
    p = float(fisher_exact([[ka, a.size - ka], [kb, b.size - kb]]).pvalue)
    return ProportionDifference(ci, p, int(a.size), ka, int(b.size), kb)
