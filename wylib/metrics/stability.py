"""S.U.N. (stable, unique, novel) and S.S.U.N. (S.U.N. and not P1) rates.

A structure is S.U.N. if it is unique, novel and its CHGNet E_hull <= threshold
(0.08 eV/atom); a missing E_hull (NaN: failed build/relaxation) is not stable.
Two denominators, reported side by side:

* ``paper``: structures that have an E_hull (the authors' choice);
* ``all``: every attempted sample, including invalid sequences and failed
  builds/relaxations (``n_attempted``; default: the number of records given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wylib.constants import STABILITY_THRESHOLD


@dataclass(frozen=True)
class SunResult:
    n_attempted: int
    n_with_e_hull: int
    n_sun: int
    n_ssun: int

    @property
    def sun_paper(self) -> float:
        return self.n_sun / self.n_with_e_hull if self.n_with_e_hull else float("nan")

    @property
    def sun_all(self) -> float:
        return self.n_sun / self.n_attempted if self.n_attempted else float("nan")

    @property
    def ssun_paper(self) -> float:
        return self.n_ssun / self.n_with_e_hull if self.n_with_e_hull else float("nan")

    @property
    def ssun_all(self) -> float:
        return self.n_ssun / self.n_attempted if self.n_attempted else float("nan")


def sun_mask(
    unique: Sequence[bool], novel: Sequence[bool], e_hull: Sequence[float], threshold: float = STABILITY_THRESHOLD
) -> np.ndarray:
    """Per-structure S.U.N. flag (NaN E_hull -> False)."""
    e = np.asarray(e_hull, float)
    u, n = np.asarray(unique, bool), np.asarray(novel, bool)
    if not (u.shape == n.shape == e.shape):
        raise ValueError("unique, novel and e_hull must have the same length")
    with np.errstate(invalid="ignore"):
        return u & n & (e <= threshold)


def sun_rates(
    unique: Sequence[bool],
    novel: Sequence[bool],
    e_hull: Sequence[float],
    spacegroup: Sequence[int],
    n_attempted: int | None = None,
    threshold: float = STABILITY_THRESHOLD,
    subset: Sequence[bool] | None = None,
) -> SunResult:
    """Counts behind S.U.N./S.S.U.N. with both denominators (see module docstring).

    Records are the structures that reached the E_hull stage (NaN where it failed);
    ``n_attempted`` (>= number of records) adds samples that never got that far.
    ``subset`` restricts everything to some records, e.g. those whose chemical system
    has a reference compound in every binary subsystem; its ``all`` denominator is
    then the subset size (samples that failed earlier have no chemical system).
    """
    if subset is not None:
        keep = np.asarray(subset, bool)
        if n_attempted is not None:
            raise ValueError("n_attempted cannot be combined with subset")
        unique, novel = np.asarray(unique, bool)[keep], np.asarray(novel, bool)[keep]
        e_hull, spacegroup = np.asarray(e_hull, float)[keep], np.asarray(spacegroup)[keep]
    sun = sun_mask(unique, novel, e_hull, threshold)
    sg = np.asarray(spacegroup)
    if sg.shape != sun.shape:
        raise ValueError("spacegroup must have the same length as e_hull")
    n_att = len(sun) if n_attempted is None else int(n_attempted)
    if n_att < len(sun):
        raise ValueError("n_attempted is smaller than the number of records")
    return SunResult(
        n_att, int(np.isfinite(np.asarray(e_hull, float)).sum()), int(sun.sum()), int((sun & (sg != 1)).sum())
    )
