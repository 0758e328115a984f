"""The trial screen (RelaxConfig.screen_*) and the two-phase protocol against CHGNet's StructOptimizer."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import wylib.chgnet as chg
from wylib.relax import BatchRelaxer, RelaxConfig, best_trials, read_jsonl, reference_relax, relax_to_jsonl

pytestmark = pytest.mark.slow  # CHGNet
EXHAUSTIVE = RelaxConfig(steps=6)
SCREENED = RelaxConfig(steps=6, screen_steps=2, screen_margin=0.02)


@pytest.fixture(scope="module")
def model():
    return chg.load_model(threads=1)


def rock_salt(a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])


@pytest.fixture(scope="module")
def trials():
    """One sample, three trials far apart in energy: near equilibrium, compressed, expanded; plus a
    second sample (perovskite) whose two trials are close, so both pass the screen."""
    out = [(f"nacl/{t}", rock_salt(a).get_primitive_structure()) for t, a in enumerate((4.7, 5.65, 7.0))]
    for t, strain in enumerate((0.01, 0.012)):
        sto = Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0, 0]]
        )
        sto.apply_strain([0.0, 0.0, strain])
        out.append((f"sto/{t}", sto))
    return out


def test_screen_keeps_the_best_trial(model, trials):
    full = {r.id: r for r in BatchRelaxer(EXHAUSTIVE, model=model).relax(trials)}
    screened = {r.id: r for r in BatchRelaxer(SCREENED, model=model).relax(trials)}
    assert all(r.flag != "screened_out" and r.screen_energy is None for r in full.values())
    best_full = best_trials(r.to_dict() for r in full.values())
    best_screened = best_trials(r.to_dict() for r in screened.values())
    assert best_full["nacl"]["id"] == best_screened["nacl"]["id"] == "nacl/1"  # the near-equilibrium trial
    for sample in ("nacl", "sto"):
        assert best_screened[sample]["energy_per_atom"] == pytest.approx(best_full[sample]["energy_per_atom"], abs=1e-5)
    assert screened["nacl/0"].flag == screened["nacl/2"].flag == "screened_out"
    assert sum(screened["nacl/0"].n_steps) == 2 and screened["nacl/0"].screen_energy > screened["nacl/1"].screen_energy
    assert screened["sto/0"].flag != "screened_out" and screened["sto/1"].flag != "screened_out"  # within margin
    # the kept trial follows the same trajectory as without the screen
    assert screened["nacl/1"].n_steps == full["nacl/1"].n_steps


def test_screen_keep_caps_the_survivors(model, trials):
    cfg = RelaxConfig(steps=6, screen_steps=2, screen_margin=10.0, screen_keep=1)
    res = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(trials)}
    assert sum(r.flag != "screened_out" for k, r in res.items() if k.startswith("nacl")) == 1
    assert res["nacl/1"].flag != "screened_out"
    assert sum(r.flag != "screened_out" for k, r in res.items() if k.startswith("sto")) == 1


def test_screen_with_a_small_batch_never_splits_a_sample(model, trials):
    cfg = RelaxConfig(steps=6, screen_steps=2, screen_margin=0.02, batch_size=2)  # batch smaller than a sample
    res = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(trials)}
    assert len(res) == len(trials) and res["nacl/0"].flag == res["nacl/2"].flag == "screened_out"


class Killed(Exception):
    pass


@pytest.mark.parametrize("workers", [0, 2])
def test_screen_resume_after_a_kill_loses_no_finished_trial(model, trials, tmp_path, workers):
    full = relax_to_jsonl(trials, tmp_path / "full.jsonl", SCREENED, n_workers=0, model=model, progress=False)
    path, seen = tmp_path / "run.jsonl", []

    def kill_after_first(rec):
        seen.append(rec["id"])
        raise Killed

    with pytest.raises(Killed):
        relax_to_jsonl(trials, path, SCREENED, n_workers=0, model=model, progress=False, on_result=kill_after_first)
    first = [r["id"] for r in read_jsonl(path)]
    assert first == seen[:1] and read_jsonl(path)[0]["flag"] == "screened_out"  # the screen ends trials first
    redone = []
    out = relax_to_jsonl(
        trials,
        path,
        SCREENED,
        n_workers=workers,
        model=model,
        progress=False,
        on_result=lambda r: redone.append(r["id"]),
    )
    assert sorted(redone) == sorted({k for k, _ in trials} - set(first))  # the finished trial is not redone
    flags = {r["id"]: r["flag"] for r in out}
    assert flags == {r["id"]: r["flag"] for r in full}  # the rerun screens as the uninterrupted run did
    e_full = {k: r["energy_per_atom"] for k, r in best_trials(full).items()}
    assert {k: r["energy_per_atom"] for k, r in best_trials(out).items()} == pytest.approx(e_full, abs=1e-5)
    # the exhaustive protocol's records are not reused by the screened one (different input key)
    again = []
    relax_to_jsonl(trials[:1], path, EXHAUSTIVE, n_workers=0, model=model, progress=False, on_result=again.append)
    assert len(again) == 1


def test_two_phase_protocol_is_struct_optimizer_step_for_step(model, trials):
    """One structure per call: the default protocol (positions, then cell, FixSymmetry) gives the final
    energy of CHGNet's StructOptimizer run phase by phase on the same Atoms (`reference_relax`)."""
    from chgnet.model import StructOptimizer

    cfg = RelaxConfig(steps=8, batch_size=1)
    opt = StructOptimizer(model=chg.load_model(1), optimizer_class="FIRE")
    picked = [trials[0], trials[3]]
    ours = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(picked)}
    for key, s in picked:
        energy, steps, final = reference_relax(s, cfg, opt)
        assert len(final) == len(s)
        assert ours[key].n_steps == steps
        assert ours[key].energy_per_atom == pytest.approx(energy, abs=1e-6)
        assert np.isfinite(energy)
