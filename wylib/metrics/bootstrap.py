"""Bootstrap confidence intervals for any metric of one or more samples (percentile or centered)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("percentile", "centered")


@dataclass(frozen=True)
class CI:
    """Point estimate on the full data and a (1 - alpha) interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def _take(sample: Any, idx: np.ndarray) -> Any:
    if isinstance(sample, np.ndarray):
        return sample[idx]
    return [sample[i] for i in idx]


def bootstrap_ci(
    statistic: Callable[..., float],
    *samples: Sequence,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    resample: Sequence[bool] | None = None,
    method: str = "percentile",
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> CI:
    """statistic(*samples) with a bootstrap interval, each sample resampled independently.

    ``method="percentile"``: the alpha/2 and 1 - alpha/2 quantiles of the replicates. ``"centered"``: the same
    spread moved onto the estimate (value + quantile - mean of the replicates), clipped to ``bounds``; for
    statistics biased under resampling (KS and chi2 distances near 0 grow in every replicate) the percentile
    interval can exclude the estimate, the centered one holds it (widened to it in the rare case where the
    replicates' mean lies outside their own central interval). ``resample``: which samples to resample (default
    all). NaN replicates are ignored; an empty sample or ``n_boot=0`` gives a NaN interval. Same seed -> same
    interval. Method and the definitions: docs/metrics.md."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    resample = [True] * len(samples) if resample is None else list(resample)
    if len(resample) != len(samples):
        raise ValueError("resample must have one flag per sample")
    value = float(statistic(*samples))
    if any(len(s) == 0 for s, r in zip(samples, resample, strict=True) if r):
        return CI(value, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        args = [_take(s, rng.integers(0, len(s), len(s))) if r else s for s, r in zip(samples, resample, strict=True)]
        reps[b] = statistic(*args)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or (method == "centered" and not np.isfinite(value)):
        return CI(value, float("nan"), float("nan"))
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    if method == "centered":
        shift = value - float(reps.mean())
        lo, hi = np.clip([min(lo + shift, value), max(hi + shift, value)], *bounds)
    return CI(value, float(lo), float(hi))
