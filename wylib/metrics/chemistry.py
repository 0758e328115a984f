"""Charge neutrality with SMACT, CDVAE style.

A composition passes if it is a single element, if all its elements are metals
(``smact.metals``: alloys/intermetallics), or if some combination of one SMACT
oxidation state per element (``Element.oxidation_states``) is charge neutral for
the reduced integer formula and passes the Pauling electronegativity test
(missing electronegativities count as passing, as in CDVAE). Elements with no
SMACT oxidation states (noble gases, some heavy elements; SMACT 4 gives None) can
take no charge, so such a non-metallic composition fails.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Sequence

import numpy as np
import smact
from pymatgen.core import Composition
from smact.screening import pauling_test


@lru_cache(maxsize=None)
def _smact_element(symbol: str) -> smact.Element:
    return smact.Element(symbol)


@lru_cache(maxsize=65536)
def _valid_formula(symbols: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool,
                   include_alloys: bool) -> bool:
    if len(symbols) == 1:
        return True
    if include_alloys and all(s in smact.metals for s in symbols):
        return True
    elems = [_smact_element(s) for s in symbols]
    ox_lists = [e.oxidation_states or [] for e in elems]
    enegs = [e.pauling_eneg for e in elems]
    stoichs = [(c,) for c in counts]
    for ox in itertools.product(*ox_lists):
        if not smact.neutral_ratios(ox, stoichs=stoichs, threshold=max(counts)):
            continue
        if not use_pauling_test:
            return True
        try:
            if pauling_test(ox, enegs):
                return True
        except TypeError:  # missing electronegativity data: accepted, as in CDVAE
            return True
    return False


def smact_valid(composition: Composition | str, use_pauling_test: bool = True, include_alloys: bool = True) -> bool:
    """CDVAE-style SMACT validity (charge neutrality + electronegativity) of one composition."""
    comp = Composition(composition)
    if len(comp) == 0:
        raise ValueError("empty composition")
    amounts = comp.get_el_amt_dict()
    symbols = tuple(sorted(amounts))
    counts = np.array([amounts[s] for s in symbols])
    if not np.allclose(counts, np.round(counts)):
        raise ValueError(f"non-integer composition {comp}")
    counts = np.round(counts).astype(int)
    counts //= np.gcd.reduce(counts)
    return _valid_formula(symbols, tuple(int(c) for c in counts), use_pauling_test, include_alloys)


def charge_neutral_fraction(compositions: Sequence[Composition | str]) -> float:
    """Share of charge-neutral (SMACT-valid) compositions; NaN for empty input.

    Unparseable / non-integer compositions count as not neutral.
    """
    if len(compositions) == 0:
        return float("nan")
    ok = 0
    for c in compositions:
        try:
            ok += smact_valid(c)
        except (ValueError, KeyError):
            pass
    return ok / len(compositions)
