"""Targeted generation (wylib.targets): every sample obeys its target, reachability is exact, bad targets fail fast."""

from __future__ import annotations

import random
import time
from functools import cache
from pathlib import Path

import pytest
import torch

from wylib.likelihood import log_likelihood, sequences_of
from wylib.sample import sample
from wylib.symmetry import wyckoff_tables
from wylib.targets import Target, allowed_groups, group_signature, min_sites
from wylib.train import load_run

from tiny import one_thread, tiny_model, tiny_vocab  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
RUN = Path(__file__).resolve().parent.parent / "runs" / "default"


@pytest.fixture(scope="module")
def default_run():
    model, vocab, _ = load_run(RUN, device="cpu")
    return model, vocab


def _brute_min_sites(group: int, counts: tuple[int, ...], cap: int) -> int:
    """Fewest sites (<= cap, else cap + 1) by trying every position for every element, DoF-0 positions once."""
    positions = [(wp.multiplicity, wp.dof == 0, wp.letter) for wp in wyckoff_tables()[group].positions]

    @cache
    def go(rest: tuple[int, ...], used: frozenset[str]) -> int:
        if not any(rest):
            return 0
        i = next(j for j, c in enumerate(rest) if c)  # fill the first unfinished element first (order is free)
        best = cap + 1
        for m, fixed, letter in positions:
            if m <= rest[i] and not (fixed and letter in used):
                sub = go(rest[:i] + (rest[i] - m,) + rest[i + 1 :], used | {letter} if fixed else used)
                best = min(best, 1 + sub)
        return best

    return min(go(counts, frozenset()), cap + 1)


@pytest.mark.parametrize("group", [1, 2, 47, 123, 160, 191, 221, 225, 229, 230])
def test_min_sites_matches_brute_force(group):
    rng = random.Random(group)
    free, mults, avail = group_signature(group)
    for _ in range(25):
        counts = tuple(sorted(rng.randint(1, 14) for _ in range(rng.randint(1, 3))))
        exact = min_sites(free, mults, avail, counts)
        assert min(exact, 7) == _brute_min_sites(group, counts, 6), (group, counts)


def _obeys(target: Target, res) -> None:
    bad = [
        (int(g), str(r), v)
        for g, r in zip(res.spacegroup, res.representations, strict=True)
        if (v := target.violations(int(g), r))
    ]
    assert not bad, bad[:3]
    assert res.validity == 1.0 and res.meta["target"] == target.as_dict()


def _random_targets(vocab, n: int = 10, seed: int = 0) -> list[Target]:
    rng = random.Random(seed)
    common = ["Li", "Na", "K", "Mg", "Ca", "Sr", "Ti", "Mn", "Fe", "Cu", "Zn", "O", "S", "Cl", "N", "F", "Si"]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:  # a set of space groups, maybe a size cap
            out.append(Target(spacegroups=frozenset(rng.sample(range(1, 231), 3)), max_sites=rng.choice([None, 4])))
        elif kind == 1:  # a chemical system with a required element
            system = rng.sample(common, 3)
            cap = rng.choice([None, 24])
            out.append(Target(elements=frozenset(system), required=frozenset(system[:1]), max_atoms=cap))
        elif kind == 2:  # a random exact composition
            a, b = rng.sample(common, 2)
            z = rng.choice([None, "2,4"])
            out.append(Target.parse(composition=f"{a}{rng.randint(1, 3)}{b}{rng.randint(1, 4)}", max_atoms=40, z=z))
        else:  # a composition in a group set, capped
            formula = rng.choice(["Li2MnO3", "NaCl", "SrTiO3"])
            out.append(Target.parse(composition=formula, spacegroups="225,221,62,12,2"))
    return out


def test_random_targets_are_always_obeyed(default_run):
    model, vocab = default_run
    for i, target in enumerate(_random_targets(vocab)):
        res = sample(model, vocab, 60, target=target, seed=i, progress=False, device="cpu")
        _obeys(target, res)


def test_perovskite_in_pm3m_uses_the_special_positions(default_run):
    model, vocab = default_run
    target = Target.parse(composition="SrTiO3", spacegroups="221", max_atoms=5)
    res = sample(model, vocab, 50, target=target, seed=0, progress=False, device="cpu")
    _obeys(target, res)
    for rep in res.representations:
        assert sorted(s.label for s in rep.sites) in (["1a", "1b", "3c"], ["1a", "1b", "3d"])


def test_rock_salt_with_four_formula_units_in_fm3m(default_run):
    model, vocab = default_run
    target = Target.parse(composition="NaCl", spacegroups="225", z="4")
    res = sample(model, vocab, 40, target=target, seed=0, progress=False, device="cpu")
    _obeys(target, res)
    assert all(sorted(s.label for s in rep.sites) == ["4a", "4b"] for rep in res.representations)


def test_targets_on_a_model_without_arity():
    vocab = tiny_vocab(max_sites=8)
    model = tiny_model(vocab)
    assert not model.cfg.arity
    for target in (Target.parse(composition="Li2O"), Target.parse(elements="Na,Cl,O", required="Na,Cl", max_atoms=16)):
        res = sample(model, vocab, 60, spacegroups=torch.full((60,), 225), target=target, seed=1, progress=False)
        _obeys(target, res)


def test_logp_model_stays_the_unconstrained_log_probability():
    vocab = tiny_vocab(max_sites=8)
    model = tiny_model(vocab)
    target = Target.parse(composition="MgO", max_atoms=8)
    res = sample(model, vocab, 40, target=target, seed=3, progress=False)
    seq = sequences_of(res, only_valid=False)
    assert torch.allclose(log_likelihood(model, seq), res.logp_model.sum(1), atol=1e-4)
    assert bool((res.logp.sum((1, 2)) > res.logp_model.sum((1, 2)) + 1e-3).all())  # the masks move the mass


def test_no_solution_is_a_clear_error_and_fast(default_run):
    model, vocab = default_run
    t0 = time.time()
    with pytest.raises(ValueError, match="no space group can hold"):
        sample(model, vocab, 5, target=Target.parse(composition="NaCl", spacegroups="230", max_atoms=20))
    tight = Target.parse(composition="NaCl", spacegroups="229,230", max_atoms=4)  # 2a + 6b: no 1:1 within 4 atoms
    assert not allowed_groups(tight, vocab, vocab.grammar()).any()
    with pytest.raises(ValueError, match="cannot hold the target"):
        sample(model, vocab, 2, spacegroups=[225, 1], target=Target.parse(spacegroups="225"), progress=False)
    assert time.time() - t0 < 20


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(elements="Li,Xx"), "unknown element 'Xx'"),
        (dict(composition="Li2Qq"), "unknown element 'Qq'"),
        (dict(composition="Li2(("), "cannot read the composition"),
        (dict(), "empty target"),
        (dict(elements=""), "empty target"),
        (dict(spacegroups="231"), "1..230"),
        (dict(spacegroups="Fm-3m"), "whole numbers separated by commas"),
        (dict(composition="NaCl", z="0"), "formula units must be integers >= 1"),
        (
            dict(composition="NaCl", z="4", max_atoms=6),
            "unit x 4 formula units, more than max_atoms=6",
        ),
        (dict(composition="Li2MnO3", max_atoms=5), "6 atoms per formula unit, more than max_atoms=5"),
        (dict(composition="Li2MnO3", elements="Li,O"), "outside the elements"),
        (dict(elements="Li,O", required="Mn"), r"\['Mn'\] outside the elements"),
        (dict(max_atoms=0), "max_atoms must be an integer >= 1"),
    ],
)
def test_bad_targets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Target.parse(**kwargs)


def test_targets_the_model_cannot_make(default_run):
    model, vocab = default_run
    with pytest.raises(ValueError, match="He not in the model's vocabulary"):
        sample(model, vocab, 2, target=Target.parse(elements="He,O"), progress=False)
    with pytest.raises(ValueError, match="at most 20 sites"):
        sample(model, vocab, 2, target=Target.parse(composition="NaCl", max_sites=30), progress=False)
