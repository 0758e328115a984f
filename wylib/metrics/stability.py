"""S.U.N. (stable, unique, novel) flags.

A structure is S.U.N. if it is unique, novel and its CHGNet E_hull <= threshold
(0.08 eV/atom); a missing E_hull (NaN: failed build/relaxation) is not stable.
S.S.U.N. is S.U.N. and not P1. The rates and their two denominators (structures with
an E_hull, as the paper; every attempted sample) are taken in `wylib.evaluate.evaluate_set`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wylib.constants import STABILITY_THRESHOLD


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
