"""CHGNet loading and batched prediction: CHGNet's own energies on real structures, failures per structure."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import wylib.chgnet as chg
from wylib.data import parse_cif

pytestmark = pytest.mark.slow  # CHGNet


@pytest.fixture(scope="module")
def model():
    return chg.load_model(threads=1)


@pytest.fixture(scope="module")
def real(test_split_head):
    return [parse_cif(c) for c in test_split_head.cif[:24]]


def test_load_model_device_threads_and_isolated_atoms(model):
    assert next(model.parameters()).device.type == "cpu" and torch.get_num_threads() == 1
    assert model.graph_converter.on_isolated_atoms == "error"
    with pytest.raises(ValueError, match="gpu"):  # wylib.device.resolve_device names the bad device
        chg.load_model(device="gpu")


def test_energies_are_chgnet_own_on_real_structures(model, real):
    """Batched energies per atom equal CHGNet's `predict_structure(task="e")` and the energies of the
    forces-and-stress path bit for bit (not the calculator's total energy divided back by n)."""
    ref = [float(p["e"]) for p in model.predict_structure(real, task="e", batch_size=8)]
    ours = chg.energies_per_atom(model, real, batch_size=8)
    assert ours == ref
    efs = chg.predict(model, real, batch_size=8, task="efs")
    assert [float(p["e"]) for p in efs] == ref
    ev = chg.evaluate(model, real, batch_size=8)
    assert np.allclose([float(r["energy"]) / len(s) for r, s in zip(ev, real, strict=True)], ref, rtol=0, atol=1e-6)
    assert all(r["stress"].shape == (3, 3) and r["forces"].shape == (len(s), 3) for r, s in zip(ev, real, strict=True))


def test_failures_are_per_structure(model, real, monkeypatch):
    lonely = Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # isolated atoms
    ref = chg.energies_per_atom(model, real[:4])
    out = chg.energies_per_atom(model, [real[0], lonely, *real[1:4]], batch_size=8)
    bad = out.pop(1)
    assert isinstance(bad, chg.Failure) and bad.stage == "graph" and isinstance(bad.error, ValueError)
    assert str(bad).startswith("graph: ValueError: ") and "isolated" in str(bad).lower()
    assert out == ref
    real_predict = chg.predict_e

    def fail_batches(m, graphs):
        if len(graphs) > 1:
            raise RuntimeError("batch failure")
        return real_predict(m, graphs)

    monkeypatch.setattr(chg, "predict_e", fail_batches)
    assert chg.energies_per_atom(model, real[:4], batch_size=4) == pytest.approx(ref, abs=1e-6)  # one by one

    def fail(m, graphs):
        raise RuntimeError("boom")

    monkeypatch.setattr(chg, "predict_e", fail)
    assert [str(e) for e in chg.energies_per_atom(model, real[:2])] == ["forward: RuntimeError: boom"] * 2
    with pytest.raises(ValueError, match="task"):
        chg.predict(model, real[:1], task="ef")


def test_batched_assembly_agrees_with_chgnets(model, real, monkeypatch):
    """`predict_efs(batched=True)` (the default on a GPU): CHGNet's energies, forces and stresses up to float32
    rounding, on real structures and on one without any angle (no two bonds shorter than 3 A share an atom)."""
    sparse = Structure(Lattice.cubic(4.0), ["Cu"], [[0, 0, 0]])  # neighbours at 4 A: bonds, but no angles
    graphs = [model.graph_converter(s) for s in [*real[:16], sparse]]
    assert len(graphs[-1].bond_graph) == 0
    for batch in (graphs, graphs[-1:], graphs[:1]):
        own, fast = chg.predict_efs(model, batch, batched=False), chg.predict_efs(model, batch, batched=True)
        for a, b in zip(own, fast, strict=True):
            assert abs(float(a["e"]) - float(b["e"])) < 1e-5
            assert a["f"].shape == b["f"].shape and np.allclose(a["f"], b["f"], rtol=1e-4, atol=1e-3)
            assert a["s"].shape == b["s"].shape == (3, 3) and np.allclose(a["s"], b["s"], rtol=1e-4, atol=1e-3)
    # the default follows the device (CHGNet's own assembly on CPU); the environment switch forces either
    default = chg.predict_efs(model, graphs[:1])
    assert np.array_equal(default[0]["f"], own[0]["f"]) and np.array_equal(default[0]["s"], own[0]["s"])
    monkeypatch.setenv(chg.ASSEMBLY_ENV, "batched")
    forced = chg.predict_efs(model, graphs[:1])
    assert np.array_equal(forced[0]["f"], chg.predict_efs(model, graphs[:1], batched=True)[0]["f"])
    monkeypatch.setenv(chg.ASSEMBLY_ENV, "chgnet")
    assert np.array_equal(chg.predict_efs(model, graphs[:1])[0]["f"], own[0]["f"])
    monkeypatch.setenv(chg.ASSEMBLY_ENV, "Batched")
    with pytest.raises(ValueError, match=chg.ASSEMBLY_ENV):
        chg.predict_efs(model, graphs[:1])


def test_chunks_cap_members_and_edges():
    assert chg.chunks([5, 5, 5, 5, 5], batch_size=2) == [[0, 1], [2, 3], [4]]
    assert chg.chunks([5, 5, 5, 5, 5], batch_size=32, max_edges=10) == [[0, 1], [2, 3], [4]]
    assert chg.chunks([3, 30, 3, 3, 3], batch_size=32, max_edges=10) == [[0], [1], [2, 3, 4]]  # a big one alone
    assert chg.chunks([3, 3, 3], batch_size=2, max_edges=0) == [[0, 1], [2]]  # 0: no edge cap
    assert chg.chunks([], batch_size=4, max_edges=10) == []


def test_edge_cap_splits_calls_and_keeps_the_values(model, real, monkeypatch):
    """A cap on graph edges per call splits the batch (fewer edges in each call) and changes no value
    beyond float32 rounding: per structure, CHGNet's result does not depend on its batch mates."""
    sizes = [chg.graph_edges(model.graph_converter(s)) for s in real]
    assert all(n > 0 for n in sizes)
    calls = []
    real_efs = chg.predict_efs

    def spy(m, graphs, batched=None):
        calls.append(sum(chg.graph_edges(g) for g in graphs))
        return real_efs(m, graphs, batched)

    monkeypatch.setattr(chg, "predict_efs", spy)
    ref = chg.evaluate(model, real, batch_size=32)
    assert calls == [sum(sizes)]
    cap = max(sizes) + 1
    calls.clear()
    capped = chg.evaluate(model, real, batch_size=32, max_edges=cap)
    assert len(calls) > 1 and max(calls) <= cap and sum(calls) == sum(sizes)
    for a, b in zip(ref, capped, strict=True):
        assert float(a["energy"]) == pytest.approx(float(b["energy"]), abs=1e-5)
        assert np.allclose(a["forces"], b["forces"], atol=1e-5) and np.allclose(a["stress"], b["stress"], atol=1e-7)


def test_companion_makes_a_structures_values_independent_of_its_place_in_the_call(model, test_split_head):
    """Alone or last in a call, some structures' values lie a float32 rounding step from their values with
    other structures after them; with `companion` every call ends with the companion graph, and a structure's
    values are the same bit for bit alone, in pairs, first or last."""
    structures = [parse_cif(c) for c in test_split_head.cif[:40]]
    batched = chg.predict(model, structures, batch_size=40, companion=True)
    reversed_ = chg.predict(model, structures[::-1], batch_size=7, companion=True)[::-1]
    alone = [chg.predict(model, [s], companion=True)[0] for s in structures]
    pairs = [p for i in range(0, 40, 2) for p in chg.predict(model, structures[i : i + 2], companion=True)]
    plain_alone = [chg.predict(model, [s])[0] for s in structures]

    def same(a, b):
        return all(np.array_equal(a[k], b[k]) for k in "efs")

    for other in (reversed_, alone, pairs):
        assert all(same(o, b) for o, b in zip(other, batched, strict=True))
    assert not all(same(a, b) for a, b in zip(plain_alone, batched, strict=True))  # why the companion exists
    assert chg.companion_graph(model) is chg.companion_graph(model)  # built once per model
