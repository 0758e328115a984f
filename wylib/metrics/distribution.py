"""Distribution metrics against the test split: KS statistics, P1 share, chi^2 distances; NaN for empty inputs.

chi^2 = sum_k (p_k - q_k)^2 / q_k, paper style (categories absent from the test set dropped, the rest
renormalized) or corrected (add-alpha smoothing over a fixed category list); docs/metrics.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Composition

from wylib.constants import ELEMENTS, SPACE_GROUPS


def ks_statistic(generated: Sequence[float], test: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup_x |F_gen(x) - F_test(x)|; NaN if a side is empty."""
    a, b = np.sort(np.asarray(generated, float)), np.sort(np.asarray(test, float))
    if a.size == 0 or b.size == 0:
        return float("nan")
    x = np.union1d(a, b)
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def p1_fraction(spacegroups: Sequence[int]) -> float:
    """Share of structures in space group 1 (P1); NaN for empty input."""
    sg = np.asarray(spacegroups)
    return float(np.mean(sg == 1)) if sg.size else float("nan")


@dataclass(frozen=True)
class Chi2Result:
    """chi^2 value plus what the paper-style variant dropped."""

    value: float
    n_categories: int
    dropped: tuple = field(default=())
    dropped_mass: float = 0.0  # share of generated mass in dropped categories


def chi2_statistic(
    generated: Mapping[Hashable, float],
    test: Mapping[Hashable, float],
    corrected: bool = False,
    alpha: float = 1.0,
    universe: Iterable[Hashable] | None = None,
) -> Chi2Result:
    """chi^2 between two count tables (`test`: raw counts); `universe`: the corrected variant's category list."""
    g = {k: float(v) for k, v in generated.items() if v > 0}
    t = {k: float(v) for k, v in test.items() if v > 0}
    ng, nt = sum(g.values()), sum(t.values())
    if ng <= 0 or nt <= 0:
        return Chi2Result(float("nan"), 0)
    if not corrected:
        dropped = tuple(sorted((k for k in g if k not in t), key=str))
        kept = ng - sum(g[k] for k in dropped)
        if kept <= 0:
            return Chi2Result(float("nan"), len(t), dropped, 1.0)
        value = sum((g.get(k, 0.0) / kept - v / nt) ** 2 / (v / nt) for k, v in t.items())
        return Chi2Result(float(value), len(t), dropped, 1.0 - kept / ng)
    cats = set(universe or ()) | set(g) | set(t)
    lam = alpha * len(cats) / (nt + alpha * len(cats))
    value = 0.0
    for k in sorted(cats, key=str):  # a fixed order: a set's order changes between processes (string hashing)
        p = (1 - lam) * g.get(k, 0.0) / ng + lam / len(cats)
        q = (1 - lam) * t.get(k, 0.0) / nt + lam / len(cats)
        value += (p - q) ** 2 / q
    return Chi2Result(float(value), len(cats))


def _counts(x: Sequence[int] | Mapping[int, float]) -> Mapping[int, float]:
    if isinstance(x, Mapping):
        return x
    a = np.asarray(x, dtype=int)
    c = np.bincount(a) if a.size else np.zeros(0)
    return {int(k): float(c[k]) for k in np.flatnonzero(c)}


def spacegroup_chi2(
    generated: Sequence[int] | Mapping[int, float], test: Sequence[int] | Mapping[int, float], corrected: bool = False
) -> Chi2Result:
    """chi^2 between space-group frequencies (numbers or count tables); corrected: over all 230 groups."""
    return chi2_statistic(_counts(generated), _counts(test), corrected, universe=SPACE_GROUPS if corrected else None)


def element_frequencies(compositions: Sequence[Composition | Mapping[str, float] | str]) -> Counter:
    """Atomic fractions of each element summed over structures (one unit of weight per structure)."""
    out: Counter = Counter()
    for c in compositions:
        if isinstance(c, Mapping) and not isinstance(c, Composition):
            total = sum(c.values())
            out.update({str(k): v / total for k, v in c.items()})
        else:
            comp = Composition(c)
            out.update({el.symbol: comp.get_atomic_fraction(el) for el in comp})
    return out


def elements_chi2(
    generated: Sequence[Composition | Mapping[str, float] | str] | Counter,
    test: Sequence[Composition | Mapping[str, float] | str] | Counter,
    corrected: bool = False,
) -> Chi2Result:
    """chi^2 between element frequencies (compositions or `element_frequencies` Counters); corrected: over the
    89 Materials Project elements, one pseudo-count per structure."""
    freq = [x if isinstance(x, Counter) else element_frequencies(x) for x in (generated, test)]
    return chi2_statistic(freq[0], freq[1], corrected, universe=ELEMENTS if corrected else None)
