"""Batched CHGNet relaxer: agreement with CHGNet's own path, flags, kill-and-resume, pool and Dask."""

import json
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import wylib.chgnet as chg
import wylib.relax as rx
from wylib.relax import BatchRelaxer, RelaxConfig, best_trials, read_jsonl, relax_to_jsonl

pytestmark = pytest.mark.slow  # CHGNet
ONE_PHASE = RelaxConfig(steps=3, phases=("cell",), symmetry=False)


@pytest.fixture(scope="module")
def model():
    return chg.load_model(threads=1)


@pytest.fixture(scope="module")
def tiny():
    """Two tiny real structures, off equilibrium: compressed rock salt (2 atoms), strained perovskite (5)."""
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.3), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
    ).get_primitive_structure()
    sto = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0, 0]])
    sto.apply_strain([0.0, 0.0, 0.05])
    sto.perturb(0.05, min_distance=0.01, seed=0)
    return [("nacl", nacl), ("sto", sto)]


def test_predict_efs_is_bitwise_chgnet(model, tiny):
    """One structure at a time, energy, forces and stress are bit for bit CHGNet's own."""
    for _, s in tiny:
        g = model.graph_converter(s)
        ref, ours = model.predict_graph(g, task="efs"), chg.predict_efs(model, [g])[0]
        for key in "efs":
            assert ours[key].dtype == ref[key].dtype == np.float32 and np.array_equal(ours[key], ref[key]), key
    batch = chg.predict_efs(model, [model.graph_converter(s) for _, s in tiny])
    for p, (_, s) in zip(batch, tiny, strict=True):  # batched: equal up to float32 rounding of the reductions
        ref = model.predict_graph(model.graph_converter(s), task="efs")
        assert np.allclose(p["f"], ref["f"], atol=1e-5) and np.allclose(p["s"], ref["s"], atol=1e-4)


def test_follows_struct_optimizer_bit_for_bit(model, tiny):
    """With one structure per CHGNet call, BatchRelaxer is StructOptimizer step for step."""
    from chgnet.model import StructOptimizer

    steps = 25
    opt = StructOptimizer(model=chg.load_model(1))  # its own copy: it resets the isolated-atom response
    cfg = RelaxConfig(steps=steps, phases=("cell",), symmetry=False, batch_size=1)
    res = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(tiny)}
    for key, s in tiny:
        ref = opt.relax(s, fmax=cfg.fmax, steps=steps, verbose=False)
        assert res[key].energy_per_atom == float(ref["trajectory"].energies[-1]) / len(s)
        assert res[key].n_steps[0] == len(ref["trajectory"].energies) - 2
        assert res[key].flag in ("converged", "not_converged")
        final = Structure.from_dict(res[key].structure)
        assert np.array_equal(final.lattice.matrix, ref["final_structure"].lattice.matrix)
        assert np.array_equal(final.cart_coords, ref["final_structure"].cart_coords)
    batched = {r.id: r for r in BatchRelaxer(ONE_PHASE, model=model).relax(tiny)}
    for key, s in tiny:  # two structures per call: same trajectory up to float32 noise
        ref = opt.relax(s, fmax=ONE_PHASE.fmax, steps=ONE_PHASE.steps, verbose=False)
        assert batched[key].energy_per_atom == pytest.approx(ref["trajectory"].energies[-1] / len(s), abs=1e-5)


def test_default_protocol_two_phases_and_symmetry(model, tiny):
    cfg = RelaxConfig(steps=4)
    assert cfg.phases == ("positions", "cell") and cfg.symmetry and cfg.fmax == 0.05
    res = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(tiny)}
    nacl = res["nacl"]
    assert nacl.flag in ("converged", "not_converged") and len(nacl.n_steps) == 2 and max(nacl.n_steps) <= 4
    assert nacl.volume_ratio > 1.0  # compressed rock salt expands in the cell phase
    final = Structure.from_dict(nacl.structure)
    assert final.get_space_group_info(symprec=1e-3)[1] == 225  # symmetry kept


def test_bad_structures_are_flagged_not_fatal(model, tiny, monkeypatch):
    lonely = Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # isolated atoms
    res = {r.id: r for r in BatchRelaxer(ONE_PHASE, model=model).relax([("lonely", lonely), *tiny])}
    assert res["lonely"].flag == "chgnet_error" and "isolated" in res["lonely"].error.lower()
    assert res["lonely"].energy_per_atom is None
    assert res["nacl"].flag in ("converged", "not_converged") and res["sto"].energy_per_atom < 0

    exploded = BatchRelaxer(
        RelaxConfig(steps=5, phases=("cell",), symmetry=False, max_volume_ratio=1.0001), model=model
    ).relax(tiny[:1])[0]
    assert exploded.flag == "exploded_cell" and exploded.volume_ratio > 1.0001

    real = chg.predict_efs

    def nan_for_sto(m, graphs):
        out = real(m, graphs)
        for o, g in zip(out, graphs, strict=True):
            if len(g.atomic_number) == 5:
                o["e"] = float("nan")
        return out

    monkeypatch.setattr(chg, "predict_efs", nan_for_sto)
    res = {r.id: r for r in BatchRelaxer(ONE_PHASE, model=model).relax(tiny)}
    assert res["sto"].flag == "nan_energy" and res["nacl"].flag in ("converged", "not_converged")


def test_batch_error_falls_back_to_single_calls(model, tiny, monkeypatch):
    real = chg.predict_efs

    def fail_batches(m, graphs):
        if sum(g is not chg.companion_graph(m) for g in graphs) > 1:  # more than one structure besides the companion
            raise RuntimeError("batch failure")
        return real(m, graphs)

    ref = {r.id: r.energy_per_atom for r in BatchRelaxer(ONE_PHASE, model=model).relax(tiny)}
    monkeypatch.setattr(chg, "predict_efs", fail_batches)
    res = {r.id: r.energy_per_atom for r in BatchRelaxer(ONE_PHASE, model=model).relax(tiny)}
    assert res == pytest.approx(ref, abs=1e-5)


def test_edge_cap_reaches_the_model_calls_and_keeps_the_relaxation(model, tiny, monkeypatch):
    """`RelaxConfig.max_edges` splits each step's batch into one call per structure here (a cap of 1 edge: every
    graph goes alone) and leaves the records as they were, bit for bit."""
    from dataclasses import replace

    ref = {r.id: r for r in BatchRelaxer(ONE_PHASE, model=model).relax(tiny)}
    sizes = []
    real = chg.predict_efs

    def spy(m, graphs, batched=None):
        sizes.append(sum(g is not chg.companion_graph(m) for g in graphs))  # structures besides the companion
        return real(m, graphs, batched)

    monkeypatch.setattr(chg, "predict_efs", spy)
    capped = {r.id: r for r in BatchRelaxer(replace(ONE_PHASE, max_edges=1), model=model).relax(tiny)}
    assert sizes and set(sizes) == {1}
    for k, r in ref.items():  # bit for bit: every call ends with the companion, alone or not
        assert capped[k].to_dict() == r.to_dict()


def test_two_phase_protocol_is_struct_optimizer_step_for_step(model, tiny):
    """One structure per call: the default protocol (positions, then cell, FixSymmetry) gives the final
    energy of CHGNet's StructOptimizer run phase by phase on the same Atoms (`reference_relax`)."""
    from chgnet.model import StructOptimizer

    from bench.common import reference_relax

    cfg = RelaxConfig(steps=8, batch_size=1)
    opt = StructOptimizer(model=chg.load_model(1), optimizer_class="FIRE")
    ours = {r.id: r for r in BatchRelaxer(cfg, model=model).relax(tiny)}
    for key, s in tiny:
        energy, steps, final = reference_relax(s, cfg, opt)
        assert len(final) == len(s) and np.isfinite(energy)
        assert ours[key].n_steps == steps
        assert ours[key].energy_per_atom == pytest.approx(energy, abs=1e-6)


# input keys computed by the code before the trial screen was removed (commit 0e4900e): records written then
# must be reused on resume, so the key of every protocol the study runs stays what it was
KEYS_AT_0E4900E = {
    "default": ("17033599581e7f34", "2d2c4beccd20368d"),  # RelaxConfig(), = notebook 04's (fmax 0.05, 500 steps)
    "smoke": ("10b3db3b10550212", "dc848704532ea1d5"),  # the smoke profile's 30 steps
    "hull": ("6e5393f60a7dd96d", "ef0be4ba7aa396a5"),  # the hull references' StructOptimizer protocol
}


def test_input_keys_are_those_of_the_records_already_written():
    import math

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    sto = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0, 0]])
    configs = {
        "default": RelaxConfig(fmax=0.05, steps=500, device="auto"),
        "smoke": RelaxConfig(fmax=0.05, steps=30, device="auto"),
        "hull": RelaxConfig(phases=("cell",), symmetry=False, max_volume_ratio=math.inf),
    }
    for name, cfg in configs.items():
        assert (rx.input_key(nacl, cfg), rx.input_key(sto, cfg)) == KEYS_AT_0E4900E[name], name
    assert rx.input_key(nacl, RelaxConfig()) == KEYS_AT_0E4900E["default"][0]


def test_config_validation():
    with pytest.raises(ValueError):
        RelaxConfig(phases=("cell", "volume"))
    with pytest.raises(ValueError):
        RelaxConfig(fmax=0)
    with pytest.raises(ValueError):
        RelaxConfig(phases=())
    with pytest.raises(ValueError):
        RelaxConfig(batch_size=0)
    with pytest.raises(ValueError):
        RelaxConfig(max_edges=-1)


def test_batch_size_follows_the_models_device(model):
    assert BatchRelaxer(RelaxConfig(device="cuda"), model=model).cfg.batch_size == 32  # the model is on CPU
    assert BatchRelaxer(RelaxConfig(batch_size=5), model=model).cfg.batch_size == 5


def test_worker_layout_and_batch_size_by_device():
    from wylib.relax import n_workers_for, worker_layout

    assert RelaxConfig().batch_size is None and RelaxConfig().resolved().batch_size == 32
    assert RelaxConfig(batch_size=7).resolved().batch_size == 7
    assert RelaxConfig().max_edges is None and RelaxConfig().resolved().max_edges == 10_000
    assert RelaxConfig(device="cuda").resolved("cuda").max_edges == 0  # no cap on a GPU
    assert RelaxConfig(max_edges=0).resolved().max_edges == 0 and RelaxConfig(max_edges=5).resolved().max_edges == 5
    assert RelaxConfig().resolved("cpu").batch_size == 32 and RelaxConfig().resolved("cuda:0").batch_size == 128
    assert worker_layout("cpu", cpus=2, memory_gb=24) == 2  # these machines
    assert worker_layout("cuda", cpus=16, memory_gb=128) == 15  # one core left to the main process
    assert worker_layout("cuda", cpus=16, memory_gb=12) == 3  # 4 GB per GPU worker's host side
    assert worker_layout("cpu", cpus=16, memory_gb=12) == 4  # 2.5 GB per CPU worker (edge cap on)
    assert worker_layout("cuda", cpus=1, memory_gb=2) == 1
    assert n_workers_for(3, "cpu") == 3 and n_workers_for("auto", "cpu") == worker_layout("cpu")
    assert n_workers_for(np.int64(4), "cpu") == 4
    for bad in ("many", -1, True, 2.0):
        with pytest.raises(ValueError, match="n_workers"):
            n_workers_for(bad, "cpu")


class Killed(Exception):
    pass


def test_kill_and_resume(model, tiny, tmp_path):
    items = [(f"{k}/{t}", s) for t in range(2) for k, s in tiny]  # 4 relaxations
    full = relax_to_jsonl(items, tmp_path / "full.jsonl", ONE_PHASE, n_workers=0, model=model, progress=False)
    seen = []

    def kill_after_two(rec):
        seen.append(rec["id"])
        if len(seen) == 2:
            raise Killed

    path = tmp_path / "run.jsonl"
    with pytest.raises(Killed):
        relax_to_jsonl(items, path, ONE_PHASE, n_workers=0, model=model, progress=False, on_result=kill_after_two)
    first = [r["id"] for r in read_jsonl(path)]
    assert len(first) == 2
    with path.open("a") as fh:
        fh.write('{"id": "torn li')  # a writer killed mid-line
    redone = []
    out = relax_to_jsonl(
        items, path, ONE_PHASE, n_workers=0, model=model, progress=False, on_result=lambda r: redone.append(r["id"])
    )
    assert set(redone) == {k for k, _ in items} - set(first)  # nothing redone
    assert sorted(r["id"] for r in out) == sorted(k for k, _ in items)
    e_full = {r["id"]: r["energy_per_atom"] for r in full}
    assert {r["id"]: r["energy_per_atom"] for r in out} == pytest.approx(e_full, abs=1e-6)
    again = relax_to_jsonl(items, path, ONE_PHASE, n_workers=0, model=model, progress=False)
    assert len(again) == 4  # a finished run does no work


def test_resume_never_reuses_records_of_other_inputs(model, tiny, tmp_path):
    path = tmp_path / "relax.jsonl"
    first = {r["id"]: r for r in relax_to_jsonl(tiny, path, ONE_PHASE, n_workers=0, model=model, progress=False)}
    moved = tiny[1][1].copy()
    moved.perturb(0.05, seed=1)  # same id, another initial structure (e.g. another model's sample)
    redone = []
    out = relax_to_jsonl(
        [tiny[0], ("sto", moved)],
        path,
        ONE_PHASE,
        n_workers=0,
        model=model,
        progress=False,
        on_result=lambda r: redone.append(r["id"]),
    )
    assert redone == ["sto"]
    out = {r["id"]: r for r in out}
    assert out["nacl"] == first["nacl"] and out["sto"]["input_key"] != first["sto"]["input_key"]
    looser = RelaxConfig(fmax=0.1, steps=3, phases=("cell",), symmetry=False)  # another protocol: all redone
    redone.clear()
    relax_to_jsonl(
        tiny, path, looser, n_workers=0, model=model, progress=False, on_result=lambda r: redone.append(r["id"])
    )
    assert sorted(redone) == ["nacl", "sto"] and len(read_jsonl(path)) == 5
    from dataclasses import replace

    from wylib.relax import input_key

    s = tiny[0][1]  # batch size, edge cap and device change how, not what, is computed: same key
    assert input_key(s, looser) == input_key(s, replace(looser, batch_size=3, max_edges=100, device="cuda"))
    with pytest.raises(ValueError, match="duplicate"):
        relax_to_jsonl([tiny[0], tiny[0]], path, ONE_PHASE, n_workers=0, model=model, progress=False)


def test_process_pool_and_dask(model, tiny, tmp_path):
    from distributed import Client, LocalCluster

    ref = {
        r["id"]: r["energy_per_atom"]
        for r in relax_to_jsonl(tiny, tmp_path / "ref.jsonl", ONE_PHASE, n_workers=0, model=model, progress=False)
    }
    pool = relax_to_jsonl(tiny, tmp_path / "pool.jsonl", ONE_PHASE, n_workers=1, threads=1, progress=False)
    assert {r["id"]: r["energy_per_atom"] for r in pool} == pytest.approx(ref, abs=1e-5)
    many = [(f"{k}/{t}", s) for t in range(3) for k, s in tiny]  # 6 structures, 2 workers, one shared queue
    seen = []
    pool2 = relax_to_jsonl(
        many,
        tmp_path / "pool2.jsonl",
        ONE_PHASE,
        n_workers=2,
        threads=1,
        progress=False,
        on_result=lambda r: seen.append(r["id"]),
    )
    assert sorted(seen) == sorted(k for k, _ in many) and len(pool2) == 6  # each written once, as it finished
    assert {r["id"]: r["energy_per_atom"] for r in pool2} == pytest.approx(
        {f"{k}/{t}": ref[k] for t in range(3) for k, _ in tiny}, abs=1e-5
    )
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        dask = relax_to_jsonl(
            tiny, tmp_path / "dask.jsonl", ONE_PHASE, scheduler=client, chunk_size=1, threads=1, progress=False
        )
        auto = relax_to_jsonl(  # "auto" on a cluster: one chunk stream per cluster worker
            tiny, tmp_path / "dask_auto.jsonl", ONE_PHASE, scheduler=client, n_workers="auto", progress=False
        )
    assert {r["id"]: r["energy_per_atom"] for r in dask} == pytest.approx(ref, abs=1e-5)
    assert {r["id"]: r["energy_per_atom"] for r in auto} == pytest.approx(ref, abs=1e-5)
    assert all(json.loads(line)["flag"] for line in (tmp_path / "dask.jsonl").read_text().splitlines())


def test_best_trials():
    recs = [
        dict(id="a/0", flag="converged", energy_per_atom=-1.0),
        dict(id="a/1", flag="not_converged", energy_per_atom=-2.0),
        dict(id="a/2", flag="nan_energy", energy_per_atom=None),
        dict(id="b/0", flag="chgnet_error", energy_per_atom=None),
        dict(id="c/0", flag="exploded_cell", energy_per_atom=-9.0),
        dict(id="c/1", flag="converged", energy_per_atom=-3.0),
    ]
    best = best_trials(recs)
    assert best["a"]["id"] == "a/1" and best["b"]["flag"] == "chgnet_error" and best["c"]["id"] == "c/1"


def test_generated_table_save_load(model, tmp_path):
    from wylib.generated import generate_structures, load_table, structures
    from wylib.tokens import WyckoffRepresentation

    rep = WyckoffRepresentation.from_pyxtal_args(
        {"group": 225, "species": ["Na", "Cl"], "numIons": [4, 4], "sites": [["4a"], ["4b"]]}
    )
    impossible = {
        "sample_id": "bad",
        "pyxtal_args": {"group": 225, "species": ["Na"], "numIons": [3], "sites": [["4a"]]},
    }
    cfg = RelaxConfig(steps=3)
    table = generate_structures(
        [rep, impossible], tmp_path, n_trials=2, seed=1, config=cfg, n_workers=0, model=model, progress=False
    )
    assert list(table.sample_id) == ["0", "bad"]
    ok, bad = table.iloc[0], table.iloc[1]
    assert ok.n_built == 2 and ok.flag in ("converged", "not_converged") and ok.best_trial in (0, 1)
    assert ok.tokens == rep.to_dict() and ok.pyxtal_args["group"] == 225 and ok.energy_per_atom < 0
    assert bad.flag == "build_failed" and bad.n_built == 0 and sum(bad.build_failures.values()) == 2
    trials = read_jsonl(tmp_path / "relax.jsonl")
    assert ok.energy_per_atom == min(r["energy_per_atom"] for r in trials)  # lowest-energy trial kept
    back = load_table(tmp_path / "generated.jsonl")
    assert back.sample_id.tolist() == ["0", "bad"] and back.iloc[0].structure == ok.structure
    assert structures(back)[0].composition.reduced_formula == "NaCl" and structures(back)[1] is None
    again = generate_structures(
        [rep, impossible], tmp_path, n_trials=2, seed=1, config=cfg, n_workers=0, model=model, progress=False
    )  # resumed: same table, nothing relaxed again
    assert len(read_jsonl(tmp_path / "relax.jsonl")) == 2 and again.energy_per_atom[0] == ok.energy_per_atom


def test_device_auto_runs_on_cpu_without_cuda(tiny):
    import torch

    relaxer = BatchRelaxer(RelaxConfig(steps=2, phases=("cell",), symmetry=False, device="auto"), threads=1)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(relaxer.model.parameters()).device.type == expected
    res = relaxer.relax(tiny[:1])
    assert res[0].flag in ("converged", "not_converged") and res[0].energy_per_atom < 0


def test_killed_pool_worker_is_reported_and_resumed(model, tiny, tmp_path, monkeypatch):
    """A worker killed mid-run (e.g. out of memory) stops nothing silently: the run raises after
    the other worker has finished (or, if the kill left a shared queue locked, after the others fell
    silent for STUCK_AFTER_S), finished results are kept, and a rerun completes the rest."""
    import os
    import signal

    import psutil

    monkeypatch.setattr(rx, "STUCK_AFTER_S", 15.0)

    many = [(f"{k}/{t}", s) for t in range(4) for k, s in tiny]  # 8 structures
    cfg = RelaxConfig(steps=40, phases=("cell",), symmetry=False, batch_size=2)
    path, killed = tmp_path / "relax.jsonl", []

    def kill_one_worker(rec):
        if not killed:
            workers = [p for p in psutil.Process().children() if "resource_tracker" not in " ".join(p.cmdline())]
            victim = workers[-1]
            killed.append(victim.pid)
            os.kill(victim.pid, signal.SIGKILL)

    with pytest.raises(RuntimeError, match="rerun to resume"):
        relax_to_jsonl(many, path, cfg, n_workers=2, threads=1, progress=False, on_result=kill_one_worker)
    first = read_jsonl(path)
    assert killed and 1 <= len(first) < len(many)
    again = relax_to_jsonl(many, path, cfg, n_workers=2, threads=1, progress=False)
    assert sorted(r["id"] for r in again) == sorted(k for k, _ in many)


POOL_SCRIPT = """
import sys
from pymatgen.core import Lattice, Structure
from wylib.relax import RelaxConfig, relax_to_jsonl
sto = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0, 0]])
items = []
for i in range(200):
    s = sto.copy()
    s.perturb(0.1, seed=i)
    items.append((f"sto/{i}", s))
relax_to_jsonl(items, sys.argv[1], RelaxConfig(steps=20, phases=("cell",), symmetry=False, batch_size=1),
               n_workers=2, threads=1, progress=False)
"""


def _gone(proc) -> bool:
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited; waits for its new parent to reap it
    except psutil.NoSuchProcess:
        return True


def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    """A SIGKILLed parent cannot stop its relaxation workers: they must notice and exit by themselves."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    path = tmp_path / "relax.jsonl"
    repo = Path(__file__).resolve().parent.parent
    parent = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT, str(path)], cwd=repo)
    workers = []
    try:
        deadline = time.time() + 120
        while not (path.exists() and path.read_text().strip()) and time.time() < deadline:  # workers busy relaxing
            assert parent.poll() is None, "the pool run ended early"
            time.sleep(0.2)
        workers = [p for p in psutil.Process(parent.pid).children() if "resource_tracker" not in " ".join(p.cmdline())]
        assert len(workers) == 2 and path.read_text().strip()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 5
        while not all(_gone(p) for p in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert all(_gone(p) for p in workers), [p.pid for p in workers if not _gone(p)]
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers:
            if not _gone(p):
                p.kill()


WARNING_SCRIPT = """
import warnings
from pymatgen.core import Lattice, Structure
from wylib.relax import BatchRelaxer, RelaxConfig
nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
BatchRelaxer(RelaxConfig(steps=2), threads=1).relax([("nacl", nacl.get_primitive_structure())])
warnings.warn("another warning", UserWarning)
"""


def test_chgnet_scalar_warning_is_silenced_and_others_are_not():
    """torch warns once per process inside CHGNet's batching (hence a fresh process, warnings always
    shown): the relaxer hides exactly that warning, not the others."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", WARNING_SCRIPT],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "another warning" in out.stderr and chg.CHGNET_SCALAR_WARNING not in out.stderr, out.stderr[-2000:]


def test_too_close_finds_collapsed_atoms_across_the_cell_boundary():
    ok = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert rx.too_close(ok) is None
    collapsed = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.99, 0, 0]])  # 0.04 A via the boundary
    assert rx.too_close(collapsed) == pytest.approx(0.04, abs=1e-9)
    assert rx.too_close(collapsed, threshold=0.01) is None
    assert rx.too_close(Structure(Lattice.cubic(0.3), ["Na"], [[0, 0, 0]])) == pytest.approx(0.3)  # own image


def test_job_flags_a_collapsed_relaxed_structure():
    """finish() turns a converged / not_converged outcome with atoms 0.04 A apart into atoms_too_close."""
    collapsed = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.99, 0, 0]])
    job = rx._Job("x/0", collapsed, model=None, cfg=RelaxConfig(symmetry=False))
    job.finish("not_converged", energy=-2.0, fmax=0.3)
    assert job.result.flag == "atoms_too_close" and "0.040 A apart" in job.result.error
    assert job.result.energy_per_atom == -1.0 and job.result.structure is not None  # kept for inspection
    job.finish("nan_energy", error="non-finite CHGNet output")
    assert job.result.flag == "nan_energy"  # other failures keep their own flag
    assert "atoms_too_close" in rx.FLAGS and "atoms_too_close" not in rx.USABLE_FLAGS


def test_best_trials_never_keeps_collapsed_structures():
    good = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).as_dict()
    collapsed = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.99, 0, 0]]).as_dict()
    recs = [
        dict(id="a/0", flag="converged", energy_per_atom=-1.0, structure=good),
        dict(id="a/1", flag="atoms_too_close", energy_per_atom=-50.0, structure=collapsed),
        # written before the check existed: a lower energy, flagged only not_converged
        dict(id="a/2", flag="not_converged", energy_per_atom=-40.0, structure=collapsed),
        dict(id="b/0", flag="not_converged", energy_per_atom=-30.0, structure=collapsed),
    ]
    best = best_trials(recs)
    assert best["a"]["id"] == "a/0"
    assert best["b"]["id"] == "b/0" and best["b"]["flag"] == "atoms_too_close" and "apart" in best["b"]["error"]
    assert recs[3]["flag"] == "not_converged"  # input records untouched


def test_make_table_uses_only_usable_relaxations():
    """A sample whose only trial collapsed keeps its flag but gets no relaxed structure nor energy."""
    from wylib.generated import make_table

    built = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    collapsed = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.99, 0, 0]]).as_dict()
    samples = [
        dict(sample_id="a", tokens=None, pyxtal_args={"group": 221}),
        dict(sample_id="b", tokens=None, pyxtal_args={"group": 221}),
    ]
    relaxed = best_trials(
        [
            dict(id="a/0", flag="converged", energy_per_atom=-1.0, structure=built.as_dict(), n_steps=[3]),
            dict(id="b/0", flag="not_converged", energy_per_atom=-9.0, structure=collapsed, n_steps=[3]),
        ]
    )
    table = make_table(samples, [[(built, None)], [(built, None)]], relaxed)
    a, b = table.iloc[0], table.iloc[1]
    assert a.flag == "converged" and a.structure == built.as_dict() and a.energy_per_atom == -1.0
    assert b.flag == "atoms_too_close" and b.structure is None and np.isnan(b.energy_per_atom)
    assert b.initial_structure == built.as_dict() and b.best_trial == 0


def test_relaxation_does_not_depend_on_how_the_batches_were_formed(model, test_split_head):
    """Batched relaxer: a trial relaxed alone (as the last one left in a pool worker would be) and together
    with others gives the same record bit for bit; strained real structures, among them one (s1) whose
    relaxation alone differed before every call got its companion (`wylib.chgnet.predict`)."""
    from wylib.data import parse_cif

    picked = []
    for i in (1, 23, 35):
        s = parse_cif(test_split_head.cif[i])
        s.apply_strain(0.03)
        picked.append((f"s{i}", s))
    cfg = RelaxConfig(steps=12, batch_size=8)
    together = {r.id: r.to_dict() for r in BatchRelaxer(cfg, model=model).relax(picked)}
    for key, s in picked:
        assert BatchRelaxer(cfg, model=model).relax([(key, s)])[0].to_dict() == together[key], key
