"""Wyckoff tables of the 230 space groups, derived from pyXtal. Method: docs/model.md."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyxtal
import torch
from pyxtal.symmetry import Group

N_SPACEGROUPS = 230
CENTRINGS = "PABCIFR"
_SCHEMA = 2  # bump when the cached content changes


def letter_rank(letter: str) -> int:
    """Alphabetical rank of a Wyckoff letter: a..z come first, then A (alpha)."""
    return ord(letter) - ord("a") if letter.islower() else 26 + ord(letter) - ord("A")


@dataclass(frozen=True)
class WyckoffPosition:
    """One Wyckoff position of a space group."""

    spacegroup: int
    letter: str
    multiplicity: int
    site_symmetry: str
    enumeration: int
    dof: int

    @property
    def label(self) -> str:
        """Wyckoff label as written in the International Tables, e.g. ``4a``."""
        return f"{self.multiplicity}{self.letter}"


@dataclass(frozen=True)
class SpaceGroupTable:
    """All Wyckoff positions of one space group and its normalizer permutations."""

    number: int
    symbol: str
    positions: tuple[WyckoffPosition, ...]  # alphabetical letter order (a first)
    normalizer: tuple[dict[str, str], ...]  # letter -> letter, identity first

    def by_letter(self, letter: str) -> WyckoffPosition:
        for wp in self.positions:
            if wp.letter == letter:
                return wp
        raise KeyError(f"space group {self.number} has no Wyckoff letter {letter!r}")

    def by_token(self, site_symmetry: str, enumeration: int) -> WyckoffPosition:
        for wp in self.positions:
            if wp.site_symmetry == site_symmetry and wp.enumeration == enumeration:
                return wp
        raise KeyError(f"space group {self.number} has no position ({site_symmetry}, {enumeration})")

    @property
    def site_symmetries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(wp.site_symmetry for wp in self.positions))


def cache_dir() -> Path:
    """Directory for derived caches (never the read-only data directory)."""
    env = os.environ.get("WYLIB_CACHE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "cache"


def _compute_tables() -> dict:
    groups = {}
    for number in range(1, N_SPACEGROUPS + 1):
        group = Group(number)
        wps = list(reversed(group.Wyckoff_positions))  # pyXtal lists the general position first
        rows, seen = [], {}
        for wp in wps:
            wp.get_site_symmetry()
            ss = wp.site_symm
            rows.append(
                dict(
                    letter=wp.letter,
                    multiplicity=int(wp.multiplicity),
                    site_symmetry=ss,
                    enumeration=seen.get(ss, 0),
                    dof=int(wp.get_dof()),
                )
            )
            seen[ss] = seen.get(ss, 0) + 1
        letters = [r["letter"] for r in rows]
        assert letters == sorted(letters, key=letter_rank), number
        perms = []
        for mapped in group.get_alternatives()["Transformed WP"]:
            new = mapped.split()
            assert len(new) == len(letters), (number, mapped)
            perm = dict(zip(letters, new, strict=True))
            if perm not in perms:
                perms.append(perm)
        identity = {x: x for x in letters}
        perms = [identity] + [p for p in perms if p != identity]
        symmetry = np.asarray(group.get_spg_symmetry_object().to_matrix_representation(), dtype=np.int8)
        groups[number] = dict(
            symbol=group.symbol, positions=rows, normalizer=perms, symmetry_elements=symmetry.flatten().tolist()
        )
    return groups


@lru_cache(maxsize=1)
def _raw_tables() -> dict[int, dict]:
    path = cache_dir() / f"wyckoff_tables_pyxtal-{pyxtal.__version__}_v{_SCHEMA}.json"
    if path.exists():
        raw = json.loads(path.read_text())
    else:
        try:  # found before the 30 s of work, not after it
            path.parent.mkdir(parents=True, exist_ok=True)
            writable = os.access(path.parent, os.W_OK | os.X_OK)
        except OSError:
            writable = False
        if not writable:
            warnings.warn(
                f"cache directory {path.parent} is not writable: the Wyckoff tables are computed in memory "
                "(about 30 s in every process); set WYLIB_CACHE_DIR to a writable directory to keep them",
                stacklevel=2,
            )
        raw = _compute_tables()
        if writable:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(raw))
            tmp.replace(path)
    return {int(k): v for k, v in raw.items()}


@lru_cache(maxsize=1)
def wyckoff_tables() -> dict[int, SpaceGroupTable]:
    """Tables of all 230 space groups, keyed by number."""
    tables = {}
    for number, raw in _raw_tables().items():
        positions = tuple(WyckoffPosition(spacegroup=number, **row) for row in raw["positions"])
        tables[number] = SpaceGroupTable(number, raw["symbol"], positions, tuple(raw["normalizer"]))
    return tables


def spacegroup_table(number: int) -> SpaceGroupTable:
    if not 1 <= int(number) <= N_SPACEGROUPS:
        raise ValueError(f"space group number must be in 1..230, got {number}")
    return wyckoff_tables()[int(number)]


def all_site_symmetries() -> list[str]:
    """The distinct oriented site-symmetry symbols over all groups, in first-seen order."""
    return list(dict.fromkeys(wp.site_symmetry for t in wyckoff_tables().values() for wp in t.positions))


def max_enumeration() -> int:
    return max(wp.enumeration for t in wyckoff_tables().values() for wp in t.positions)


@lru_cache(maxsize=1)
def _features() -> np.ndarray:
    raw = _raw_tables()
    rows = []
    for number in range(1, N_SPACEGROUPS + 1):
        centring = np.zeros(len(CENTRINGS), dtype=np.float32)
        centring[CENTRINGS.index(raw[number]["symbol"][0])] = 1.0
        rows.append(np.concatenate([np.asarray(raw[number]["symmetry_elements"], np.float32), centring]))
    matrix = np.stack(rows)
    matrix = matrix[:, matrix.std(axis=0) > 0]  # drop dimensions constant over all 230 groups
    return np.concatenate([np.zeros((1, matrix.shape[1]), np.float32), matrix])  # row 0 unused


def spacegroup_features():
    """Symmetry-element encoding of every group, ``torch.FloatTensor (231, F)``."""
    return torch.from_numpy(_features().copy())
