"""Convex hull and E_hull on a hand-made reference table (`hull_table`, conftest) and on the shipped table."""

from __future__ import annotations

import gzip
from dataclasses import astuple

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from wylib import hull


def test_binary_hull_hand_computed(hull_table):
    h = hull.ReferenceHull(hull_table)
    # hull between Li2O (x_O = 1/3, -6) and O (x_O = 1, -5): at x_O = 1/2 it is -5.75
    r = h.e_above_hull("LiO", -5.0)
    assert r.e_hull == pytest.approx(0.75)
    assert r.n_reference_compounds == 2 and r.complete_binary_subsystems
    assert h.e_above_hull("Li2O2", -5.75).e_hull == pytest.approx(0.0, abs=1e-9)
    assert h.e_above_hull("Li2O", -6.1).e_hull == pytest.approx(-0.1)  # below the hull: negative
    li2o = Structure(Lattice.cubic(4.6), ["Li", "Li", "O"], [[0.25] * 3, [0.75] * 3, [0, 0, 0]])
    assert h.e_above_hull(li2o, -6.0).e_hull == pytest.approx(0.0, abs=1e-9)


def test_unary_and_ternary_coverage(hull_table):
    h = hull.ReferenceHull(hull_table)
    r = h.e_above_hull("Fe", -8.0)
    assert r.e_hull == pytest.approx(0.0) and r.n_reference_compounds == 0 and r.complete_binary_subsystems
    r = h.e_above_hull("FeO", -7.0)  # no Fe-O compound: the hull is the element tie line, -6.5
    assert r.e_hull == pytest.approx(-0.5) and r.n_reference_compounds == 0 and not r.complete_binary_subsystems
    # LiFeO2 -> 3/8 Li2O + 1/4 Fe + 3/8 O = -6.125 eV/atom
    r = h.e_above_hull("LiFeO2", -6.0)
    assert r.e_hull == pytest.approx(0.125)
    assert r.n_reference_compounds == 2 and not r.complete_binary_subsystems


def test_bad_input_is_flagged_not_raised(hull_table):
    h = hull.ReferenceHull(hull_table)
    with pytest.raises(KeyError):
        h.e_above_hull("NaCl", -3.0)  # no elemental reference for Na, Cl
    res = hull.e_above_hull_table(["LiO", "NaCl", "LiO", "LiO"], [-5.0, -3.0, np.nan, None], h)
    assert res["flag"].tolist() == ["ok", "failed:KeyError", "failed:ValueError", "failed:ValueError"]
    assert res["e_hull"].iloc[0] == pytest.approx(0.75) and res["e_hull"].iloc[1:].isna().all()


@pytest.mark.skipif(not hull.RESOURCE.exists(), reason="reference table not built yet")
def test_shipped_reference_table():
    text = gzip.open(hull.RESOURCE, "rt").read(2000)
    assert text.startswith("# CHGNet reference energies") and "chgnet" in text
    h = hull.default_hull()
    assert {"O", "Fe", "Li", "H", "N"} <= set(h.elements)
    e, n, complete = astuple(h.e_above_hull("Fe2O3", h.elements["Fe"] * 0.4 + h.elements["O"] * 0.6))
    assert e > 0 and n >= 1 and complete  # the element tie line is far above iron oxides
