"""The tool that built the hull's reference table (tools/build_hull_reference.py): elemental references,
the acceptance check, CHGNet static and relaxed energies, the resumable bias measurement."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from chgnet.model import StructOptimizer
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from tools import build_hull_reference as builder
from wylib.chgnet import load_model


def test_check_references_on_table_file(hull_table, tmp_path):
    path = tmp_path / "refs.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("# a header line\n")
        hull_table.to_csv(f, index=False)
    out = builder.check_references(path)
    # mp-1 on the hull, mp-2 0.1 above it; the failed mp-3 is not a reference
    assert out["n"] == 2 and out["within"] == 0.5 and out["n_failed"] == 0
    assert out["n_dft_near_hull"] == 2


def test_elemental_table_fills_missing_by_dft_offset(tmp_path, monkeypatch):
    (tmp_path / "elements").mkdir()
    dft = {"Li": -1.9, "O": -4.9, "Fe": -8.4, "H": -3.4}
    monkeypatch.setattr(builder, "dft_elemental_energies", lambda: dft)
    for el, src, e in [
        ("Li", "ase_bulk", -1.8),
        ("Fe", "relaxed:mp-13", -8.3),
        ("O", "relaxed:mp-12957", -4.7),
        ("H", "none", None),
    ]:
        (tmp_path / "elements" / f"{el}.json").write_text(
            f'{{"element": "{el}", "source": "{src}", "energy": {"null" if e is None else e}, "n_candidates": 1}}'
        )
    df = builder.elemental_table(tmp_path, ["H", "Li", "O", "Fe"]).set_index("element")
    assert df.attrs["offset"] == pytest.approx(0.1)  # median of 0.1, 0.1, 0.2
    assert df.loc["H", "energy"] == pytest.approx(-3.3) and df.loc["H", "source"].startswith("dft+offset")
    assert df.loc["Fe", "energy"] == -8.3 and df.loc["Fe", "source"] == "relaxed:mp-13; chgnet-dft +0.100"


def test_cif_formula_reads_the_formula_line():
    cif = "data_x\n_chemical_formula_structural   CsMnCr(CN)6\n_chemical_formula_sum   'Cs1 Mn1 Cr1 C6 N6'\n"
    assert builder._cif_formula(cif).reduced_formula == "CsMnCr(CN)6"
    assert builder._cif_formula("garbage") is None


@pytest.mark.slow
def test_chgnet_static_energies_with_isolated_atom_fallback(rocksalt):
    isolated = Structure(Lattice.cubic(15.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    e, flags = builder.chgnet_static_energies([rocksalt, isolated, None, rocksalt], batch_size=4)
    assert flags == ["ok", "chgnet_failed:ValueError", "parse_failed", "ok"]
    assert -4.0 < e[0] < -3.0 and e[0] == pytest.approx(e[3]) and math.isnan(e[1]) and math.isnan(e[2])


@pytest.mark.slow
def test_chgnet_relaxed_energies_are_struct_optimizer(rocksalt):
    """The references' relaxation is CHGNet's StructOptimizer (FIRE, cell + positions, no volume limit): the same
    energy, also for ase's U, whose cell shrinks to 0.23 of its start (the relaxer's exploded_cell would flag it)."""
    squeezed = rocksalt.get_primitive_structure()
    squeezed.scale_lattice(squeezed.volume * 0.9)
    lonely = Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # isolated atoms
    uranium = AseAtomsAdaptor.get_structure(bulk("U"))
    opt = StructOptimizer(model=load_model(1), optimizer_class="FIRE")
    for s, steps in [(squeezed, 10), (uranium, 150)]:
        ref = opt.relax(s, fmax=0.05, steps=steps, relax_cell=True, verbose=False)
        e = builder.chgnet_relaxed_energies([s, None, lonely], steps=steps)
        assert e[0] == float(ref["trajectory"].energies[-1]) / len(s) and math.isnan(e[1]) and math.isnan(e[2])
    assert ref["final_structure"].volume / uranium.volume < 0.25


def test_measure_bias_resumes_by_batch(tmp_path, monkeypatch):
    """A run killed after its first batch keeps that batch; the rerun relaxes only the rest. A CIF that does
    not parse gets NaN energies, not a crash."""
    fixtures = sorted((Path(__file__).parent / "fixtures").glob("mp-*.cif"))[:3]
    refs = pd.DataFrame(
        {
            "material_id": [p.stem for p in fixtures] + ["mp-bad"],
            "cif": [p.read_text() for p in fixtures] + ["data_x\n_chemical_formula_sum 'Na1 Cl1'\n"],
        }
    )
    monkeypatch.setattr(builder, "reference_frame", lambda: refs)
    calls: list[list] = []

    def relaxed(structs, fmax):
        calls.append(structs)
        if len(calls) == 2 and kill:
            raise KeyboardInterrupt
        return np.array([-1.0 if s is not None else np.nan for s in structs])

    monkeypatch.setattr(builder, "chgnet_static_energies", lambda s: (np.array([-0.9] * len(s)), ["ok"] * len(s)))
    monkeypatch.setattr(builder, "chgnet_relaxed_energies", relaxed)
    kill = True
    with pytest.raises(KeyboardInterrupt):
        builder.measure_bias(4, tmp_path, batch=2)
    assert len(pd.read_csv(tmp_path / "bias_seed0.csv")) == 2
    kill = False
    out = builder.measure_bias(4, tmp_path, batch=2)
    assert len(calls) == 3 and len(calls[2]) == 2 and sorted(out["material_id"]) == sorted(refs["material_id"])
    bad = out.set_index("material_id").loc["mp-bad"]
    assert np.isnan(bad["relaxed"]) and out["relaxed"].notna().sum() == 3
