"""S.U.N. flags: unique, novel and CHGNet E_hull <= threshold (eV/atom); the rates are in `wylib.evaluate`."""

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
