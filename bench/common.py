"""What the benchmarks share besides the trials (`bench.trials`): the paper-size model config and CHGNet's own
relaxation (`reference_relax`), the reference the batched relaxer is checked against."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from ase.constraints import FixSymmetry
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from wylib.model import ModelConfig
from wylib.relax import RelaxConfig
from wylib.vocab import Vocabulary


def paper_size_config(vocab: Vocabulary, sg_features: torch.Tensor) -> ModelConfig:
    """`ModelConfig`'s field defaults (the paper's MP-20 model) sized for `vocab` and the space-group features."""
    return ModelConfig(
        n_elements=vocab.n_elements,
        n_site_symmetries=vocab.n_site_symmetries,
        n_enumerations=vocab.n_enumerations,
        n_sg_features=sg_features.shape[1],
    )


def reference_relax(structure: Structure, config: RelaxConfig, optimizer) -> tuple[float, list[int], Structure]:
    """CHGNet's own `StructOptimizer` (FIRE, `optimizer`) through the protocol of `config`, one structure alone, one
    `relax` call per phase on the same `Atoms` (docs/relaxation.md): (energy per atom, FIRE steps per phase, final
    structure)."""
    atoms = AseAtomsAdaptor.get_atoms(structure)
    if config.symmetry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms.set_constraint(FixSymmetry(atoms, symprec=config.symprec))
    energy, steps = float("nan"), []
    for phase in config.phases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = optimizer.relax(
                atoms, fmax=config.fmax, steps=config.steps, relax_cell=phase == "cell", verbose=False
            )
        traj = res["trajectory"]
        energy, steps = float(traj.energies[-1]) / len(atoms), [*steps, len(traj.energies) - 2]
    cell, symbols = Lattice(np.array(atoms.cell)), atoms.get_chemical_symbols()
    return energy, steps, Structure(cell, symbols, atoms.positions, coords_are_cartesian=True)
