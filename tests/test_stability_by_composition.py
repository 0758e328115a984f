"""wylib.rediscovery: stability by formula / system class, differences, and the estimate of hidden training formulas."""

from __future__ import annotations

import pandas as pd
import pytest

from studies.yardstick import composition
from studies.yardstick.composition import stability_by_class, stable_share_differences, unseen_formula_estimate


def _frame(structures, formula, stable):
    return pd.DataFrame(
        {
            "structure": structures,
            "n_elements": [len(s.composition.elements) for s in structures],
            "formula": formula,
            "stable": stable,
            "e_hull": [0.0 if x else 0.2 for x in stable],
            "sun_train_val": stable,
        }
    )


def test_unseen_formula_estimate_arithmetic(rocksalt):
    from pymatgen.core import Lattice, Structure

    kcl = Structure(Lattice.cubic(3.6), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    known = pd.DataFrame({"source": ["test", "train+val"], "reduced_formula": ["NaCl", "LiF"]})
    # 1 sample of a test-only formula (stable), 4 new-formula samples (2 stable)
    t = _frame([rocksalt] + [kcl] * 4, ["formula known elsewhere"] + ["new formula"] * 4, [1, 1, 1, 0, 0])
    t["stable"] = t["stable"].astype(bool)
    row = unseen_formula_estimate("x", t, known, ratio=2.0).iloc[0]
    assert row["formula only in the test split"] == 1
    assert row["expected unseen-training formulas"] == 2.0
    assert row["stable share of known formulas %"] == 100.0
    assert row["new-formula stable %"] == 50.0
    assert row["new-formula stable % without them (estimate)"] == pytest.approx(0.0)  # (2 - 2 x 1) / (4 - 2)


def test_formula_breakdown_and_differences(rocksalt):
    a = _frame([rocksalt] * 4, ["new formula"] * 4, [True, True, False, False])
    b = _frame([rocksalt] * 2, ["new formula"] * 2, [True, True])
    table = stability_by_class("a", a)
    assert table.loc[0, "share of its arity %"] == 100.0 and table.loc[0, "stable %"] == 50.0
    d = stable_share_differences(a, b, n_bootstrap=100)
    assert d.loc[0, "stable a - b, pp"] == -50.0 and d.loc[0, "stable a"] == "2/4"
    a["system"] = ["new system", "new system", "system in train+val", "system in train+val"]
    by_system = stability_by_class("a", a, by="system").set_index("system")
    assert by_system.loc["new system", "stable %"] == 100.0 and by_system.loc["system in train+val", "stable %"] == 0.0


def test_stability_by_composition_end_to_end(rocksalt, perovskite, tmp_path):
    """Two small sets through the whole chain notebook 05 runs: five tables, the report, the CSV files."""
    from types import SimpleNamespace

    from wylib import rediscovery

    known = pd.DataFrame({"source": ["train+val", "test"], "reduced_formula": ["NaCl", "SrTiO3"]})
    novel = {s: [True, True] for s in rediscovery.SOURCES}
    a = SimpleNamespace(name="ours", structures=[rocksalt, perovskite])
    b = SimpleNamespace(name="theirs", structures=[rocksalt, perovskite])
    tables = {
        "ours": rediscovery.rediscovery_table([True, True], [0.0, 0.3], novel),
        "theirs": rediscovery.rediscovery_table([True, True], [0.0, 0.0], novel),
    }
    by_class = composition.stability_by_composition(a, b, tables, known, n_bootstrap=50)
    by_formula, formula_diff, by_system, system_diff, unseen = by_class
    assert set(by_formula["formula"]) == {"formula in train+val", "formula known elsewhere"}
    diff = formula_diff.set_index("formula")
    assert diff.loc["formula known elsewhere", "stable a - b, pp"] == -100.0  # perovskite: 0.3 vs 0.0 eV/atom
    assert by_system.empty and system_diff.empty  # no new formula in either set
    assert set(unseen["formula only in the test split"]) == {0, 1}  # SrTiO3 is only in the test split
    report = composition.composition_report(by_class, 2.71, "ours", "theirs")
    assert "a = ours minus b = theirs" in report and "2.71 times" in report
    composition.write_composition_tables(by_class, tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"x_{n}.csv" for n in composition.COMPOSITION_TABLES)
