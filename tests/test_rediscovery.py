"""Novelty against every known MP structure: formulas from CIFs, sources, rediscoveries, the two S.U.N. yardsticks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studies.yardstick import composition
from studies.yardstick.recall import table_from_counts
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


def test_formula_familiarity_classes(rocksalt, perovskite):
    """A new arrangement of a known formula counts as a known formula; train+val wins over other sources."""
    from pymatgen.core import Lattice, Structure

    known = pd.DataFrame(
        {
            "source": ["test", "train+val", "mpts_52"],
            "reduced_formula": ["NaCl", "NaCl", "SrTiO3"],
        }
    )
    cscl_type = Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    kcl = Structure(Lattice.cubic(3.6), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    got = composition.formula_familiarity([rocksalt, cscl_type, perovskite, kcl, None], known)
    assert got.tolist() == [
        "formula in train+val",
        "formula in train+val",
        "formula known elsewhere",
        "new formula",
        "",
    ]


def test_system_familiarity_classes(rocksalt, perovskite):
    """The chemical system counts, not the formula: Sr2TiO4 is a new formula in the known Sr-Ti-O system."""
    from pymatgen.core import Lattice, Structure

    known = pd.DataFrame({"source": ["train+val", "mpts_52"], "reduced_formula": ["NaCl", "Sr2TiO4"]})
    kcl = Structure(Lattice.cubic(3.6), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    got = composition.system_familiarity([rocksalt, perovskite, kcl, None], known)
    assert got.tolist() == ["system in train+val", "system known elsewhere", "new system", ""]


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


def test_unseen_split_from_the_reference_frame():
    """Sizes from the hull's reference frame: what MP-20 structures it holds, and which are also in MPTS-52."""
    ref = pd.DataFrame(
        {
            "material_id": list("abcdef"),
            "source": [
                "mp_20_biternary_open/test",
                "mp_20_biternary_open/test+mpts_52/val",
                "mp_20_biternary_open/train",
                "mp_20_biternary_open/val",
                "mpts_52/test",
                "mpts_52/val",
            ],
        }
    )
    s = composition.unseen_split(ref, total=10)
    assert (s.n_unseen, s.n_reference) == (6, 2)  # 4 MP-20 structures held, 2 of them in the test split
    assert s.share_in_known == pytest.approx(0.25)
    assert s.ratio == pytest.approx(3.0) and s.ratio_beyond_known == pytest.approx(2.25)
    with pytest.raises(ValueError, match="no unseen part"):
        composition.unseen_split(ref, total=4)


def test_unseen_split_of_the_real_data_matches_the_paper_sizes():
    """MP-20 bi/ternary: 35,575 in all (paper); the test split (7118) and our train+val (7140) are held here."""
    s = composition.unseen_split()
    assert (s.n_unseen, s.n_reference) == (35575 - 7118 - 7140, 7118)
    assert 0.05 < s.share_in_known < 0.15


def _counts(n: int, known: int, test: int, mpts: int) -> dict[str, int]:
    """The counts of a `rediscovery.summary_row` (for `table_from_counts`)."""
    return {
        "with E_hull": n,
        "S.U.N. vs train+val": known + test + mpts,
        "rediscovered in test": test,
        "rediscovered in MPTS-52": mpts,
        "S.U.N. vs known": known,
    }


def test_unseen_corrected_values_remove_the_expected_matches():
    t = table_from_counts(_counts(10, 4, 1, 1))
    own = composition.unseen_corrected_values(t, 3.0, "own training data")
    assert own.mean() == pytest.approx((6 - 3.0) / 10)  # 6 S.U.N. vs train+val, 1 test rediscovery stands for 3
    allk = composition.unseen_corrected_values(t, 2.0, "all of MP-20 and MPTS-52")
    assert allk.mean() == pytest.approx((4 - 2.0) / 10)
    assert composition.unseen_corrected_values(t, 0.0, "own training data").mean() == pytest.approx(0.6)
    with pytest.raises(ValueError, match="yardstick"):
        composition.unseen_corrected_values(t, 1.0, "train+val")
    with pytest.raises(ValueError, match=">= 0"):
        composition.unseen_corrected_values(t, -1.0, "own training data")


def test_unseen_comparison_weights_ours_and_theirs_differently():
    split = composition.UnseenSplit(n_unseen=30, n_reference=10, share_in_known=0.1)
    ours = table_from_counts(_counts(100, 40, 2, 0))
    theirs = table_from_counts(_counts(100, 50, 5, 1))
    t = composition.unseen_comparison(ours, theirs, split, n_bootstrap=200).set_index("novelty against")
    own, known = t.loc["own training data"], t.loc["all of MP-20 and MPTS-52"]
    assert own["S.U.N. % ours"] == pytest.approx(42.0)  # our training data are all known: no correction
    assert own["S.U.N. % theirs"] == pytest.approx(56.0 - 3 * 5)
    assert known["S.U.N. % ours"] == pytest.approx(40.0 - 2.7 * 2)
    assert known["S.U.N. % theirs"] == pytest.approx(50.0 - 2.7 * 5)
    assert own["ours - theirs, pp"] == pytest.approx(42.0 - 41.0)
    lo, hi = (float(x) for x in own["difference 95 % CI"].strip("[]").split(","))
    assert lo < own["ours - theirs, pp"] < hi
    # the test-split rate taken from a larger set of the same model: 10 of 500 (2 %) instead of 5 %
    bigger = table_from_counts(_counts(500, 250, 10, 0))
    r = composition.unseen_comparison(ours, theirs, split, theirs_rate_from=bigger, n_bootstrap=200)
    assert r.set_index("novelty against").loc["own training data", "S.U.N. % theirs"] == pytest.approx(56.0 - 3 * 2)
    off = composition.unseen_comparison(ours, theirs, split, theirs_trained_on_unseen=False, n_bootstrap=50)
    assert off.loc[0, "S.U.N. % theirs"] == pytest.approx(56.0)
