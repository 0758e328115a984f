"""Table 1 metric functions against hand-computed values and the real test split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Composition

from wylib.metrics import (
    bootstrap_ci,
    charge_neutral_fraction,
    chi2_statistic,
    element_frequencies,
    elements_chi2,
    ks_statistic,
    novelty_mask,
    p1_fraction,
    smact_valid,
    spacegroup_chi2,
    sun_mask,
    uniqueness_mask,
)


@pytest.fixture(scope="module")
def test_split():
    from wylib.data import load_split

    return load_split("mp_20_biternary_open", "test")


# ------------------------------------------------------------------ KS, P1
def test_ks_hand_computed():
    # F_gen(1,2,3) = 1/3, 2/3, 1; F_test = 1/2, 1, 1 -> max gap 1/3
    assert ks_statistic([1, 2, 3], [1, 1, 2, 2]) == pytest.approx(1 / 3)
    assert ks_statistic([4, 4], [4]) == 0.0  # a single category
    assert ks_statistic([1], [2]) == 1.0


def test_ks_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 20, 300), rng.integers(2, 25, 500)
    assert ks_statistic(a, b) == pytest.approx(scipy_stats.ks_2samp(a, b).statistic)


def test_ks_and_p1_empty_are_nan():
    assert math.isnan(ks_statistic([], [1, 2]))
    assert math.isnan(ks_statistic([1], []))
    assert math.isnan(p1_fraction([]))


def test_p1_fraction():
    assert p1_fraction([1, 2, 1, 225]) == 0.5
    assert p1_fraction([225]) == 0.0


# ------------------------------------------------------------------ chi^2
def test_spacegroup_chi2_paper_style_hand_computed():
    # gen counts {1: 2, 2: 1, 3: 1}, test {1: 1, 2: 3}; group 3 is dropped and the generated
    # frequencies are renormalized over the kept groups (the authors' evaluator): p = (2/3, 1/3), q = (1/4, 3/4)
    r = spacegroup_chi2([1, 1, 2, 3], [1, 2, 2, 2])
    assert r.value == pytest.approx((2 / 3 - 1 / 4) ** 2 / (1 / 4) + (1 / 3 - 3 / 4) ** 2 / (3 / 4))
    assert r.value == pytest.approx(400 / 432)
    assert r.dropped == (3,) and r.dropped_mass == pytest.approx(0.25) and r.n_categories == 2


def test_chi2_corrected_hand_computed_small_universe():
    # add-one over {1,2,3}: q = (2,4,1)/7; same mixture for p: (3,2,2)/7 -> 1/14 + 1/7 + 1/7
    r = chi2_statistic({1: 2, 2: 1, 3: 1}, {1: 1, 2: 3}, corrected=True, universe=(1, 2, 3))
    assert r.value == pytest.approx(5 / 14)
    assert r.n_categories == 3 and r.dropped == ()


def test_spacegroup_chi2_corrected_uses_all_230_groups():
    # add-one over the 230 groups: p_k = (g_k + 1) / 234, q_k = (t_k + 1) / 234 (4 items each)
    # -> (1/234)^2/(2/234) + (2/234)^2/(4/234) + (1/234)^2/(1/234) = 2.5 / 234
    r = spacegroup_chi2([1, 1, 2, 3], [1, 2, 2, 2], corrected=True)
    assert r.n_categories == 230
    assert r.value == pytest.approx(2.5 / 234)
    # the category list is fixed: a resample that lacks some groups is summed over the same 230
    assert spacegroup_chi2([1, 1, 1, 1], [1, 2, 2, 2], corrected=True).n_categories == 230


def test_elements_chi2_corrected_uses_the_89_mp_elements():
    from wylib.constants import ELEMENTS

    assert len(ELEMENTS) == 89 and "Pu" in ELEMENTS and "Po" not in ELEMENTS
    assert elements_chi2(["NaCl"], ["KCl"], corrected=True).n_categories == 89
    assert elements_chi2(["NaCl"], ["NaCl"], corrected=True).value == pytest.approx(0.0, abs=1e-15)


def test_chi2_single_category_and_disjoint():
    assert spacegroup_chi2([5, 5], [5]).value == 0.0
    assert spacegroup_chi2([5, 5], [5], corrected=True).value == 0.0
    r = spacegroup_chi2([5], [7])  # all generated mass sits in a category the test set lacks: nothing left
    assert math.isnan(r.value) and r.dropped == (5,) and r.dropped_mass == 1.0
    assert np.isfinite(spacegroup_chi2([5], [7], corrected=True).value)


def test_chi2_empty_is_nan():
    assert math.isnan(spacegroup_chi2([], [1]).value)
    assert math.isnan(spacegroup_chi2([1], []).value)
    assert math.isnan(chi2_statistic({}, {}, corrected=True).value)


def test_element_frequencies_and_chi2_hand_computed():
    f = element_frequencies([Composition("NaCl"), "KCl", {"Na": 3, "Cl": 1}])
    assert f == pytest.approx({"Na": 0.5 + 0.75, "Cl": 0.5 + 0.5 + 0.25, "K": 0.5})
    # gen {Na: .5, Cl: .5}; test {Na: .25, Cl: .5, K: .25}
    assert elements_chi2(["NaCl"], ["NaCl", "KCl"]).value == pytest.approx(0.5)
    # Li absent from the test split: dropped (half the generated mass), Cl renormalized to 1:
    # (0 - .5)^2 / .5 + (1 - .5)^2 / .5
    r = elements_chi2(["LiCl"], ["NaCl"])
    assert r.value == pytest.approx(1.0) and r.dropped == ("Li",) and r.dropped_mass == pytest.approx(0.5)
    # a precomputed frequency table gives the same value
    assert elements_chi2(element_frequencies(["LiCl"]), ["NaCl"]).value == pytest.approx(1.0)
    assert elements_chi2(["LiCl"], ["NaCl"], corrected=True).value > 0


# ------------------------------------------------------------------ charge neutrality
def test_smact_valid_hand_cases():
    assert smact_valid("NaCl") and smact_valid("Fe2O3") and smact_valid(Composition("Li3N"))
    assert not smact_valid("NaCl2")
    assert smact_valid("Fe3Al")  # all metals pass (alloys)
    # without the alloy rule Fe3Al needs a negative Fe or Al: the 2014 list has Fe(-2), SMACT 4's has none
    assert not smact_valid("Fe3Al", include_alloys=False, oxidation_list="smact4")
    assert smact_valid("Fe3Al", include_alloys=False)
    assert smact_valid("O2")  # single element
    assert not smact_valid("HeO")  # He has no SMACT oxidation states (None in SMACT 4)
    # neutral only with an ordering that fails the Pauling electronegativity test
    assert smact_valid("P2Pt", use_pauling_test=False, oxidation_list="smact4")
    assert not smact_valid("P2Pt", oxidation_list="smact4")
    assert smact_valid("Na2Cl2") == smact_valid("NaCl")  # reduced formula is used


def test_oxidation_state_lists_paper_style_and_smact4():
    from wylib.metrics.chemistry import charge_neutral

    # MgB2 needs B(-1), which SMACT 4's default list has and the 2014 list (paper style) does not
    assert not smact_valid("MgB2") and smact_valid("MgB2", oxidation_list="smact4")
    assert charge_neutral("MgB2") is False and charge_neutral("MgB2", "smact4") is True
    assert charge_neutral_fraction(["MgB2", "NaCl"]) == 0.5
    assert charge_neutral_fraction(["MgB2", "NaCl"], oxidation_list="smact4") == 1.0
    with pytest.raises(ValueError, match="unknown oxidation-state list"):
        smact_valid("NaCl", oxidation_list="smact99")


def test_charge_neutral_fraction_edge_cases():
    assert math.isnan(charge_neutral_fraction([]))
    assert charge_neutral_fraction(["NaCl", "NaCl2"]) == 0.5
    # bad input (non-integer amounts) counts as not neutral and does not raise
    assert charge_neutral_fraction(["NaCl", "Na0.5Cl0.7"]) == 0.5
    with pytest.raises(ValueError):
        smact_valid(Composition({}))


# ------------------------------------------------------------------ the test split against itself
def test_test_split_against_itself(test_split):
    sg = test_split["spacegroup.number"].to_numpy()
    comps = [Composition(f) for f in test_split["pretty_formula"]]
    n_el = np.array([len(c) for c in comps])
    assert ks_statistic(n_el, n_el) == 0.0
    assert spacegroup_chi2(sg, sg).value == 0.0 and spacegroup_chi2(sg, sg, corrected=True).value == 0.0
    assert elements_chi2(comps, comps).value == pytest.approx(0.0, abs=1e-12)
    assert p1_fraction(sg) == pytest.approx(0.011, abs=0.002)  # paper: 1.1 %


@pytest.mark.slow
def test_test_split_charge_neutrality_about_90_percent(test_split):
    assert charge_neutral_fraction(test_split["pretty_formula"].tolist()) == pytest.approx(0.90, abs=0.01)


# ------------------------------------------------------------------ uniqueness / novelty
@pytest.fixture(scope="module")
def structures(test_split):
    from wylib.data import parse_cif

    rows = test_split.iloc[:30]
    return [parse_cif(c) for c in rows["cif"]]


def _rattled(s, amount=0.03, seed=0):
    t = s.copy()
    rng = np.random.default_rng(seed)
    for i in range(len(t)):
        t.translate_sites([i], rng.normal(0, amount, 3), frac_coords=False)
    return t


def test_uniqueness_mask(structures, rocksalt):
    s0, s1 = structures[0], structures[1]
    cands = [s0, s1, _rattled(s0), s0 * (2, 1, 1), None, rocksalt]
    assert uniqueness_mask(cands).tolist() == [True, True, False, False, False, True]
    assert uniqueness_mask([]).tolist() == []


def test_novelty_mask_symmetry_broken_copy_is_not_novel(structures, rocksalt):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s0 = structures[0]
    rattled = _rattled(s0, 0.03)
    # the rattled copy has lower detected symmetry, but still matches its source
    assert (
        SpacegroupAnalyzer(rattled, symprec=0.01).get_space_group_number()
        != SpacegroupAnalyzer(s0, symprec=0.01).get_space_group_number()
    )
    ref = structures[:10]
    assert novelty_mask([rattled, rocksalt, None], ref).tolist() == [False, True, False]
    assert novelty_mask([], ref).tolist() == []
    assert novelty_mask([rocksalt], []).tolist() == [True]


def test_novelty_same_composition_other_polymorph(rocksalt):
    from pymatgen.core import Lattice, Structure

    cscl = Structure(Lattice.cubic(3.4), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert novelty_mask([cscl, rocksalt.copy()], [rocksalt]).tolist() == [True, False]


def test_novelty_parallel_equals_serial(structures):
    cands = [_rattled(s, 0.02, seed=i) for i, s in enumerate(structures[:12])] + structures[12:20]
    ref = structures[:8] + structures[20:]
    serial = novelty_mask(cands, ref, n_jobs=1)
    assert serial[:8].tolist() == [False] * 8
    assert (novelty_mask(cands, ref, n_jobs=2) == serial).all()
    assert (uniqueness_mask(cands + cands[:3], n_jobs=2) == uniqueness_mask(cands + cands[:3])).all()


# ------------------------------------------------------------------ S.U.N.
def test_sun_mask_hand_computed():
    unique = [True, True, True, False, True]
    novel = [True, True, False, True, True]
    e_hull = [0.0, 0.05, -0.1, 0.0, np.nan]
    assert sun_mask(unique, novel, e_hull).tolist() == [True, True, False, False, False]
    assert sun_mask([True], [True], [0.08]).tolist() == [True]  # threshold inclusive
    assert sun_mask([], [], []).tolist() == []
    with pytest.raises(ValueError):
        sun_mask([True, True], [True], [0.0])


# ------------------------------------------------------------------ bootstrap
def test_bootstrap_ci():
    x = np.array([0.0] * 50 + [1.0] * 50)
    ci = bootstrap_ci(np.mean, x, n_boot=500, seed=1)
    assert ci.value == 0.5 and ci.low < 0.5 < ci.high
    assert 0.35 < ci.low and ci.high < 0.65  # about 0.5 +- 1.96 * 0.05
    assert bootstrap_ci(np.mean, x, n_boot=500, seed=1) == ci  # same seed, same interval
    # two samples, the reference kept fixed: KS of a sample with itself only grows when resampled
    ks = bootstrap_ci(ks_statistic, [1, 2, 3, 4], [1, 2, 3, 4], n_boot=200, resample=(True, False))
    assert ks.value == 0.0 and ks.high > 0
    # lists of objects are resampled too
    comps = ["NaCl", "NaCl2"] * 10
    assert bootstrap_ci(charge_neutral_fraction, comps, n_boot=50).value == 0.5


def test_bootstrap_edge_cases():
    ci = bootstrap_ci(p1_fraction, [], n_boot=10)
    assert all(math.isnan(v) for v in (ci.value, ci.low, ci.high))
    ci = bootstrap_ci(np.mean, [3.0], n_boot=10)
    assert ci.value == ci.low == ci.high == 3.0
    with pytest.raises(ValueError):
        bootstrap_ci(ks_statistic, [1], [1], resample=(True,))
