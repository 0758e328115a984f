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


@pytest.fixture()
def hull_table():
    """A hand-made hull reference table (wylib.hull layout): three elements, two Li2O, a failed and a unary row."""
    import numpy as np
    import pandas as pd

    rows = [  # material_id, reduced_formula, energy per atom, flag, dft_e_hull
        ("element:Li", "Li", -2.0, "elemental_ref", np.nan),
        ("element:O", "O", -5.0, "elemental_ref", np.nan),
        ("element:Fe", "Fe", -8.0, "elemental_ref", np.nan),
        ("mp-1", "Li2O", -6.0, "ok", 0.0),
        ("mp-2", "Li2O", -5.9, "ok", 0.05),
        ("mp-3", "LiO", np.nan, "chgnet_failed:ValueError", 0.0),
        ("mp-4", "O2", -9.9, "ok_element_polymorph", 0.0),  # never used in a hull
    ]
    df = pd.DataFrame(rows, columns=["material_id", "reduced_formula", "chgnet_energy_per_atom", "flag", "dft_e_hull"])
    df["source"], df["n_atoms"] = "hand", 1
    return df
