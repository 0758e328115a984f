"""Fixed chemical descriptors of the element tokens, for ``ModelConfig.element_features``.

One row per element token id (service tokens PAD, MASK, STOP: zeros), from pymatgen's
periodic table: its common oxidation states as a multi-hot over -4..+8, one-hots of the
group (1-18), the period (1-7) and the block (s, p, d, f), the Pauling electronegativity
divided by 4 (0 where pymatgen has none) and a metal flag. The model learns its element
embeddings from the data; these rows let it share what it learns between chemically
similar elements (the training split has a few hundred structures for most elements).

The oxidation states are pymatgen's ``Element.common_oxidation_states``, not the SMACT
lists that the charge-neutrality metric (`wylib.metrics.chemistry`) uses; the two agree
for most elements, so a model with these features is given, not taught, much of what the
metric checks. Reports say which models read them.
"""

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
