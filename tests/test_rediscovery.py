"""Novelty against every known MP structure: formulas from CIFs, sources, rediscoveries, the two S.U.N. yardsticks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wylib import rediscovery


def test_cif_reduced_formula(rocksalt, perovskite):
    assert rediscovery.cif_reduced_formula(rocksalt.to(fmt="cif")) == "NaCl"
    assert rediscovery.cif_reduced_formula(perovskite.to(fmt="cif")) == "SrTiO3"
    assert rediscovery.cif_reduced_formula("data_x\n_cell_length_a 1\n") is None


def test_novelty_by_source_finds_the_matching_file(rocksalt, perovskite):
    from pymatgen.core import Lattice, Structure

    known = pd.DataFrame(
        {
            "material_id": ["a", "b"],
            "source": ["test", "mpts_52"],
            "reduced_formula": ["NaCl", "SrTiO3"],
            "cif": [rocksalt.to(fmt="cif"), perovskite.to(fmt="cif")],
        }
    )
    strained = rocksalt.copy()
    strained.scale_lattice(rocksalt.volume * 1.02)  # same structure, 2 % larger: StructureMatcher matches it
    cscl_type = Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # NaCl, other structure
    novel = rediscovery.novelty_by_source([strained, perovskite, None, cscl_type], known)
    assert novel["test"].tolist() == [False, True, False, True]
    assert novel["mpts_52"].tolist() == [True, False, False, True]
    assert novel["train+val"].tolist() == [True, True, False, True]


def test_a_test_split_structure_is_a_rediscovery_in_test(test_split_head):
    """A real MP-20 test structure, offered as a sample: novel against train+val, known from the test split."""
    from wylib.data import parse_cif

    known = rediscovery.known_frame()
    assert set(known["source"]) == set(rediscovery.SOURCES)
    row = test_split_head.iloc[0]
    assert known.set_index("material_id").loc[row["material_id"], "source"] == "test"
    structure = parse_cif(row["cif"])
    novel = rediscovery.novelty_by_source([structure], known)
    assert novel["test"].tolist() == [False]
    assert novel["train+val"].tolist() == [True]
    t = rediscovery.rediscovery_table([True], [0.0], novel)
    assert t["sun_train_val"].tolist() == [True] and t["sun_known"].tolist() == [False]
    assert t["rediscovered_in"].tolist() == ["test"]


def test_rediscovery_table_and_summary():
    novel = {
        "train+val": np.array([True, True, True, False, True, True]),
        "test": np.array([True, False, True, True, True, True]),
        "mpts_52": np.array([True, True, False, True, True, True]),
    }
    unique = [True, True, True, True, False, True]
    e_hull = [0.0, 0.01, 0.05, 0.0, 0.0, np.nan]
    t = rediscovery.rediscovery_table(unique, e_hull, novel)
    assert t["sun_train_val"].tolist() == [True, True, True, False, False, False]
    assert t["sun_known"].tolist() == [True, False, False, False, False, False]
    assert t["rediscovered_in"].tolist() == ["", "test", "mpts_52", "", "", ""]
    row = rediscovery.summary_row("x", t)
    assert row["with E_hull"] == 5  # the NaN E_hull is out of the paper's denominator
    assert (row["S.U.N. vs train+val"], row["S.U.N. vs known"]) == (3, 1)
    assert (row["rediscovered in test"], row["rediscovered in MPTS-52"]) == (1, 1)
    assert row["S.U.N. % vs known"] == pytest.approx(20.0)
    d = rediscovery.differences(t, t.iloc[:1], n_bootstrap=50)
    assert d["sun_train_val"].difference.value == pytest.approx(60.0 - 100.0)
    assert d["sun_known"].difference.value == pytest.approx(20.0 - 100.0)


def test_compare_sets_both_yardsticks(rocksalt, perovskite):
    from types import SimpleNamespace

    known = pd.DataFrame(
        {"material_id": ["a"], "source": ["test"], "reduced_formula": ["NaCl"], "cif": [rocksalt.to(fmt="cif")]}
    )
    a = SimpleNamespace(name="ours", structures=[rocksalt, perovskite], e_hull=[0.0, 0.5])
    b = SimpleNamespace(name="theirs", structures=[rocksalt], e_hull=[0.0])
    summary, diff, tables = rediscovery.compare_sets(a, b, known=known, n_bootstrap=50)
    assert summary["S.U.N. vs train+val"].tolist() == [1, 1]
    assert summary["S.U.N. vs known"].tolist() == [0, 0]
    assert diff["a - b, pp"].tolist() == pytest.approx([-50.0, 0.0])
    assert tables["ours"]["rediscovered_in"].tolist() == ["test", ""]
    with pytest.raises(ValueError, match="different names"):
        rediscovery.compare_sets(a, a, known=known)
    with pytest.raises(ValueError, match="E_hull"):
        rediscovery.compare_sets(a, SimpleNamespace(name="x", structures=None, e_hull=None), known=known)
