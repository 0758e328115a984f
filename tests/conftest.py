"""Shared fixtures: real structures (rock salt, perovskite, MP-20 entries)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("WYLIB_DATA_DIR", str(REPO.parent / "shared" / "data"))
warnings.filterwarnings("ignore", message="Issues encountered while parsing CIF")


@pytest.fixture(scope="session")
def rocksalt():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="session")
def perovskite():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Pm-3m", Lattice.cubic(3.905), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]]
    )


@pytest.fixture(scope="session")
def test_split_head():
    """The first 40 rows of the mp_20_biternary_open test split (the paper's binary+ternary test set)."""
    from wylib.data import load_split

    return load_split("mp_20_biternary_open", "test").iloc[:40]
