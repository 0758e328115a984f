"""Fixed chemical descriptors of the element tokens, for ``ModelConfig.element_features``. Method: docs/model.md."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from pymatgen.core import Element

from wylib.vocab import N_SERVICE  # PAD, MASK, STOP come first in the element vocabulary

OXIDATION_STATES = tuple(range(-4, 9))
BLOCKS = ("s", "p", "d", "f")
N_ELEMENT_FEATURES = len(OXIDATION_STATES) + 18 + 7 + len(BLOCKS) + 2


def element_descriptor(symbol: str) -> list[float]:
    """The N_ELEMENT_FEATURES numbers of one element (ValueError for a symbol pymatgen does not know)."""
    try:
        el = Element(symbol)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"unknown element {symbol!r}") from exc
    ox = [float(q in el.common_oxidation_states) for q in OXIDATION_STATES]
    group = [float(el.group == g) for g in range(1, 19)]
    period = [float(el.row == r) for r in range(1, 8)]
    block = [float(el.block == b) for b in BLOCKS]
    with warnings.catch_warnings():  # pymatgen warns where it has no Pauling value (noble gases)
        warnings.simplefilter("ignore", UserWarning)
        x = el.X
    chi = 0.0 if x != x else float(x) / 4.0  # pymatgen gives NaN for elements without a Pauling value
    return ox + group + period + block + [chi, float(el.is_metal)]


def element_feature_matrix(elements: Sequence[str]) -> torch.Tensor:
    """(3 + len(elements), N_ELEMENT_FEATURES) float table by element token id (service rows zero)."""
    rows = [[0.0] * N_ELEMENT_FEATURES] * N_SERVICE + [element_descriptor(e) for e in elements]
    return torch.tensor(rows, dtype=torch.float32)
