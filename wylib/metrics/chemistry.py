"""Charge neutrality with SMACT, CDVAE style (single elements and all-metal compositions pass).

Oxidation-state lists: ``"smact14"`` (SMACT's 2014 list, paper style, the default: it reproduces the authors'
``smact_validity`` flag) and ``"smact4"`` (SMACT 4's default list, an extra). `charge_neutral` returns None (not
checked) beyond `MAX_OXIDATION_COMBINATIONS` combinations. Details: docs/metrics.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np
import smact
from pymatgen.core import Composition
from smact.screening import pauling_test

OXIDATION_LISTS = {"smact14": "oxidation_states_smact14", "smact4": "oxidation_states"}
PAPER_OXIDATION_LIST = "smact14"
MAX_OXIDATION_COMBINATIONS = 100_000


@cache
def _smact_element(symbol: str) -> smact.Element:
    return smact.Element(symbol)


@cache
def oxidation_states(symbol: str, oxidation_list: str = PAPER_OXIDATION_LIST) -> tuple[int, ...]:
    """Oxidation states of an element in one of `OXIDATION_LISTS` (empty if it has none)."""
    if oxidation_list not in OXIDATION_LISTS:
        raise ValueError(f"unknown oxidation-state list {oxidation_list!r}; known: {sorted(OXIDATION_LISTS)}")
    try:
        states = getattr(_smact_element(symbol), OXIDATION_LISTS[oxidation_list])
    except (KeyError, NameError):
        return ()
    return tuple(states or ())


@lru_cache(maxsize=65536)
def _valid_formula(
    symbols: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool, include_alloys: bool, oxidation_list: str
) -> bool:
    if len(symbols) == 1:
        return True
    if include_alloys and all(s in smact.metals for s in symbols):
        return True
    ox_lists = [oxidation_states(s, oxidation_list) for s in symbols]
    enegs = [_smact_element(s).pauling_eneg for s in symbols]
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


def _reduced(composition: Composition | str) -> tuple[tuple[str, ...], tuple[int, ...]]:
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
    return symbols, tuple(int(c) for c in counts)


def smact_valid(
    composition: Composition | str,
    use_pauling_test: bool = True,
    include_alloys: bool = True,
    oxidation_list: str = PAPER_OXIDATION_LIST,
) -> bool:
    """CDVAE-style SMACT validity (charge neutrality + electronegativity) of one composition."""
    symbols, counts = _reduced(composition)
    if oxidation_list not in OXIDATION_LISTS:
        raise ValueError(f"unknown oxidation-state list {oxidation_list!r}; known: {sorted(OXIDATION_LISTS)}")
    return _valid_formula(symbols, counts, use_pauling_test, include_alloys, oxidation_list)


def oxidation_combinations(composition: Composition | str, oxidation_list: str = PAPER_OXIDATION_LIST) -> int | None:
    """Oxidation-state combinations SMACT would try; None if the composition passes without (one element, metals)."""
    symbols = [el.symbol for el in Composition(composition)]
    if len(symbols) == 1 or all(x in smact.metals for x in symbols):
        return None
    return int(np.prod([len(oxidation_states(x, oxidation_list)) for x in symbols], dtype=float))


def charge_neutral(composition: Composition | str, oxidation_list: str = PAPER_OXIDATION_LIST) -> bool | None:
    """`smact_valid`; None (not checked) beyond `MAX_OXIDATION_COMBINATIONS`; False for unusable compositions."""
    try:
        n = oxidation_combinations(composition, oxidation_list)
        if n is not None and n > MAX_OXIDATION_COMBINATIONS:
            return None
        return smact_valid(composition, oxidation_list=oxidation_list)
    except (ValueError, KeyError):
        return False


def charge_neutral_fraction(
    compositions: Sequence[Composition | str], oxidation_list: str = PAPER_OXIDATION_LIST
) -> float:
    """Share of charge-neutral compositions (unchecked ones count as not neutral); NaN for none."""
    if len(compositions) == 0:
        return float("nan")
    return sum(charge_neutral(c, oxidation_list) is True for c in compositions) / len(compositions)
