"""studies/protocol/bench_optimizers.py: the optimizer per relax phase, and FIRE always the relaxer's own."""

from __future__ import annotations

from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS


def test_phase_optimizers_split_positions_and_cell(monkeypatch):
    import wylib.relax as relax
    from studies.protocol import bench_optimizers

    fire = relax._FIRE
    monkeypatch.setattr(relax, "_FIRE", bench_optimizers.phase_optimizers("BFGS"))  # as while a candidate runs
    atoms = bulk("NaCl", "rocksalt", a=5.6)
    make = bench_optimizers.phase_optimizers("BFGS+FIRE")
    assert isinstance(make(atoms, logfile=None), BFGS)
    assert type(make(FrechetCellFilter(atoms), logfile=None)) is fire
    make = bench_optimizers.phase_optimizers("FIRE+BFGS")
    assert type(make(atoms, logfile=None)) is fire
    assert isinstance(make(FrechetCellFilter(atoms), logfile=None), BFGS)
    one = bench_optimizers.phase_optimizers("BFGS")
    assert issubclass(one, BFGS) and one(atoms, logfile=None).gradient is None  # the relaxer's gradient reuse
