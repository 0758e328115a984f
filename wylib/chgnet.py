"""CHGNet: the pretrained model and batched predictions, bit for bit CHGNet's own.

`load_model` is the one loader (device via `wylib.device`, torch thread limit, isolated atoms an
error). `predict` converts structures to graphs and evaluates them in batches: energy, forces and
stress as `CHGNet.predict_graph(task="efs")` (`predict_efs`, one backward pass), or the energy alone
as `task="e"` (CHGNet's own forward, no gradients). A structure that cannot be evaluated gets a
`Failure`; a failing batch falls back to one call per structure. `evaluate` gives the values in
ASE units exactly as `CHGNetCalculator` stores them (the relaxer's calculator).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ase import units
from pymatgen.core import Structure

CHGNET_SCALAR_WARNING = "Converting a tensor with requires_grad=True to a scalar"


def load_model(threads: int | None = None, device: str = "cpu"):
    """Pretrained CHGNet (weights shipped with the package, no network) on `device` ("cpu", "cuda",
    "cuda:N", "auto": CUDA when available); `threads` sets torch's thread count for the process.
    Structures with isolated atoms raise (CHGNet's calculator would only warn)."""
    import torch
    from chgnet.model import CHGNet

    from wylib.device import resolve_device

    if threads:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CHGNet.load(verbose=False, use_device=str(resolve_device(device)))
    model.graph_converter.set_isolated_atom_response("error")
    return model


@dataclass(frozen=True)
class Failure:
    """A structure CHGNet could not evaluate: the stage ("graph" or "forward") and the exception."""

    stage: str
    error: Exception

    def __str__(self) -> str:
        return f"{self.stage}: {type(self.error).__name__}: {str(self.error)[:200]}"


def _on_device(model, graphs: Sequence) -> list:
    device = next(model.parameters()).device
    return [g.to(device) for g in graphs] if device.type != "cpu" else list(graphs)


def predict_efs(model, graphs: Sequence) -> list[dict]:
    """CHGNet energy (eV/atom), forces (eV/A), stress (GPa) of a batch of graphs, float32
    numpy arrays, as `model.predict_graph(task="efs")` but with ONE backward pass for forces
    and stress together (CHGNet's own path makes two). The pass keeps CHGNet's
    `create_graph=True`, which selects the double-backward-capable kernels: without it the
    gradients differ from CHGNet's in the last float32 bits, and FIRE trajectories that
    pass near a saddle then part ways. With it, forces and stress are bitwise CHGNet's."""
    import torch
    from chgnet.model.model import BatchedGraph

    model.eval()
    graphs = _on_device(model, graphs)
    comp = 0 if model.composition_model is None else model.composition_model(graphs)
    with warnings.catch_warnings():  # harmless torch warning, once per process (CHGNet reads volumes as floats)
        warnings.filterwarnings("ignore", message=CHGNET_SCALAR_WARNING, category=UserWarning)
        g = BatchedGraph.from_graphs(
            graphs,
            bond_basis_expansion=model.bond_basis_expansion,
            angle_basis_expansion=model.angle_basis_expansion,
            compute_stress=True,
        )
    pred = model._compute(g)  # energy only: (B,) eV/atom for the intensive model
    n = pred["atoms_per_graph"]
    total = pred["e"] * n if model.is_intensive else pred["e"]
    k = len(graphs)
    grads = torch.autograd.grad(total.sum(), [*g.atom_positions, *g.strains], create_graph=True)
    e = (pred["e"] + comp) if model.is_intensive else (pred["e"] + comp) / n
    scale = 1 / g.volumes * 160.21766208  # eV/A^3 -> GPa, in CHGNet's order of operations
    with torch.no_grad():
        return [
            dict(
                e=e[i].detach().cpu().numpy(),
                f=(-1 * grads[i]).detach().cpu().numpy(),
                s=(grads[k + i] * scale[i]).detach().cpu().numpy(),
            )
            for i in range(k)
        ]


def predict_e(model, graphs: Sequence) -> list[dict]:
    """CHGNet energy (eV/atom, float32) of a batch of graphs: CHGNet's own forward pass of
    `model.predict_graph(task="e")`, without gradients: the energies of `predict_efs` at ~1/5 of its CPU time."""
    import torch

    model.eval()
    with torch.no_grad():
        e = model(_on_device(model, graphs), task="e")["e"]
    return [dict(e=x.cpu().numpy()) for x in e]


def predict(model, structures: Sequence[Structure], batch_size: int = 32, task: str = "efs") -> list[dict | Failure]:
    """Per structure, CHGNet's prediction (`predict_efs` for task "efs", `predict_e` for "e") or a
    `Failure`; structures are evaluated `batch_size` at a time, a failing batch one by one."""
    if task not in ("e", "efs"):
        raise ValueError(f"task must be 'e' or 'efs', got {task!r}")
    out: list[dict | Failure | None] = [None] * len(structures)
    graphs, where = [], []
    for i, s in enumerate(structures):
        try:
            graphs.append(model.graph_converter(s))
            where.append(i)
        except Exception as err:  # isolated atoms, empty neighbour lists
            out[i] = Failure("graph", err)

    def run(gs):
        return predict_efs(model, gs) if task == "efs" else predict_e(model, gs)

    for lo in range(0, len(graphs), batch_size):
        idx, gs = where[lo : lo + batch_size], graphs[lo : lo + batch_size]
        try:
            out_batch = run(gs)
        except Exception:
            out_batch = []
            for g in gs:
                try:
                    out_batch.append(run([g])[0])
                except Exception as err:
                    out_batch.append(Failure("forward", err))
        for i, p in zip(idx, out_batch, strict=True):
            out[i] = p
    return out


def evaluate(model, structures: Sequence[Structure], batch_size: int = 32) -> list[dict | Failure]:
    """Energy (eV, total), forces (eV/A), stress (3x3, eV/A^3) per structure, or a `Failure`;
    float32 values exactly as `CHGNetCalculator` stores them."""
    out: list[dict | Failure] = []
    for s, p in zip(structures, predict(model, structures, batch_size, "efs"), strict=True):
        extensive = len(s) if model.is_intensive else 1
        out.append(
            p if isinstance(p, Failure) else dict(energy=p["e"] * extensive, forces=p["f"], stress=p["s"] * units.GPa)
        )
    return out


def energies_per_atom(model, structures: Sequence[Structure], batch_size: int = 32) -> list[float | Failure]:
    """CHGNet energy per atom (eV, float32 value as a float) of each structure, or a `Failure`."""
    return [p if isinstance(p, Failure) else float(p["e"]) for p in predict(model, structures, batch_size, "e")]
