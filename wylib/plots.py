"""Figure helpers: the paper's distribution plots, saved as PDF and PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def save_figure(fig, name: str, out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/<name>.pdf`` and ``.png``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in ("pdf", "png")]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=150)
    return paths


def spacegroup_distribution(spacegroups: Mapping[str, Sequence[int]], top: int | None = None, ax=None):
    """Bar plot of space-group shares (paper Figure 4); one bar group per named set."""
    ax = ax or plt.subplots(figsize=(12, 3.5))[1]
    counts = {
        k: np.bincount(np.asarray(v, dtype=int), minlength=231)[1:] / max(len(v), 1) for k, v in spacegroups.items()
    }
    first = next(iter(counts.values()))
    order = np.argsort(-first)
    order = order[first[order] > 0] if top is None else order[:top]
    width = _bars(ax, {k: c[order] for k, c in counts.items()}, "space group number")
    ax.set_xticks(np.arange(len(order)) + 0.4 - width / 2, [str(g + 1) for g in order], rotation=90, fontsize=6)
    return ax


def count_distribution(values: Mapping[str, Sequence[int]], xlabel: str, ax=None, max_value: int | None = None):
    """Side-by-side bar plot of integer counts per set (paper Figures 5-6, 8-9)."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    hi = max_value or max(int(np.max(v)) if len(v) else 0 for v in values.values())
    xs = np.arange(0, hi + 1)
    shares = {
        k: np.bincount(np.clip(np.asarray(v, dtype=int), 0, hi), minlength=hi + 1) / max(len(v), 1)
        for k, v in values.items()
    }
    width = _bars(ax, shares, xlabel)
    step = max(1, len(xs) // 16)
    ax.set_xticks(xs[::step] + 0.4 - width / 2, [str(x) for x in xs[::step]])
    return ax


def _bars(ax, shares: Mapping[str, np.ndarray], xlabel: str) -> float:
    """Side-by-side bars of each set's shares (fractions, shown in %); returns the bar width."""
    width = 0.8 / len(shares)
    for i, (name, share) in enumerate(shares.items()):
        ax.bar(np.arange(len(share)) + i * width, 100 * share, width, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of structures, %")
    ax.legend()
    return width


def ehull_distribution(e_hull: Mapping[str, Sequence[float]], threshold: float, ax=None):
    """Histograms (shares) of E_hull per set, the stability line, stable shares (paper Figures 7, 10)."""
    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    low, clip, bins = -0.5, 1.0, 45
    edges = np.linspace(low, clip, bins + 1)
    for name, v in e_hull.items():
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        if not len(v):
            continue
        stable = float(np.mean(v <= threshold))
        ax.hist(
            np.clip(v, edges[0], clip),
            bins=edges,
            weights=np.full(len(v), 100 / len(v)),
            histtype="step",
            lw=1.6,
            label=f"{name}: {100 * stable:.0f} % stable (n={len(v)})",
        )
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set_xlabel(f"E_hull, eV/atom (CHGNet, this repo's hull; clipped to [{low:g}, {clip:g}])")
    ax.set_ylabel("share of novel structures, %")
    ax.legend(fontsize=7)
    return ax
