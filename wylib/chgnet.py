"""CHGNet: the pretrained model and batched predictions, bit for bit CHGNet's own on CPU. Method: docs/relaxation.md."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import units
from pymatgen.core import Lattice, Structure

from wylib.device import resolve_device

# The chgnet package (2-3 s to import) is imported where a model is loaded or a batch assembled, so that modules
# which only read relaxation records (wylib.relax's readers, wylib.generated, wylib.evaluate) do not import it.
CHGNET_SCALAR_WARNING = "Converting a tensor with requires_grad=True to a scalar"
ASSEMBLY_ENV = "WYLIB_CHGNET_ASSEMBLY"  # "chgnet" / "batched": force `predict_efs`'s batch assembly (benchmarks)


def load_model(threads: int | None = None, device: str = "cpu"):
    """Pretrained CHGNet (weights shipped, no network) on `device`; `threads` sets torch's thread count."""
    from chgnet.model import CHGNet  # slow import (module comment)

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


def _batched(model, graphs: Sequence, device) -> tuple:
    """CHGNet's `BatchedGraph.from_graphs(compute_stress=True)` for the whole batch at once (docs/relaxation.md)."""
    from chgnet.model.model import BatchedGraph  # slow import (module comment)

    n_atoms = torch.tensor([len(g.atomic_number) for g in graphs])
    n_dir = torch.tensor([len(g.atom_graph.reshape(-1, 2)) for g in graphs])
    n_und = torch.tensor([len(g.undirected2directed) for g in graphs])
    off_atom, off_dir, off_und = (torch.cumsum(n, 0) - n for n in (n_atoms, n_dir, n_und))
    n_ang = torch.tensor([len(g.bond_graph) if g.bond_graph.dim() == 2 else 0 for g in graphs])

    def cat(parts, counts, offsets=None):  # join per-graph arrays, adding each graph's offset
        joined = torch.cat(parts)
        if offsets is not None:
            shape = (-1,) + (1,) * (joined.dim() - 1)
            joined = joined + torch.repeat_interleave(offsets, counts).view(shape)
        return joined

    atom_graph = cat([g.atom_graph.reshape(-1, 2) for g in graphs], n_dir, off_atom)
    u2d = cat([g.undirected2directed for g in graphs], n_und, off_dir)
    d2u = cat([g.directed2undirected for g in graphs], n_dir, off_und)
    bond_graph = torch.cat([g.bond_graph.reshape(-1, 5) for g in graphs]).clone()
    for col, offsets in ((0, off_atom), (1, off_und), (2, off_dir), (3, off_und), (4, off_dir)):
        bond_graph[:, col] += torch.repeat_interleave(offsets, n_ang)
    host = dict(
        z=torch.cat([g.atomic_number for g in graphs]),
        frac=torch.cat([g.atom_frac_coord for g in graphs]),
        image=torch.cat([g.neighbor_image for g in graphs]),
        lattice=torch.stack([g.lattice for g in graphs]),
        owner=torch.repeat_interleave(torch.arange(len(graphs)), n_atoms),
        edge_owner=torch.repeat_interleave(torch.arange(len(graphs)), n_dir),
        atom_graph=atom_graph,
        u2d=u2d,
        d2u=d2u,
        bond_graph=bond_graph,
        comp=model.composition_model._assemble_graphs(graphs) if model.composition_model is not None else None,
    )
    t = {k: (v.to(device, non_blocking=True) if v is not None else None) for k, v in host.items()}
    strains = torch.zeros(len(graphs), 3, 3, dtype=t["lattice"].dtype, device=device, requires_grad=True)
    lattice = t["lattice"] @ (torch.eye(3, dtype=strains.dtype, device=device) + strains)
    volumes = (lattice[:, 0] * torch.linalg.cross(lattice[:, 1], lattice[:, 2])).sum(-1)
    positions = torch.bmm(t["frac"].unsqueeze(1), lattice[t["owner"]]).squeeze(1)
    shift = torch.bmm(t["image"].unsqueeze(1), lattice[t["edge_owner"]]).squeeze(1)
    center, neighbor = positions[t["atom_graph"][:, 0]], positions[t["atom_graph"][:, 1]] + shift
    bases_ag, bases_bg, vectors = model.bond_basis_expansion(  # periodic shift already applied
        center=center,
        neighbor=neighbor,
        undirected2directed=t["u2d"],
        image=torch.zeros_like(shift),
        lattice=torch.eye(3, dtype=shift.dtype, device=device),
    )
    bg = t["bond_graph"]
    angles = model.angle_basis_expansion(vectors[bg[:, 2]], vectors[bg[:, 4]]) if len(bg) else torch.tensor([])
    g = BatchedGraph(
        atomic_numbers=t["z"],
        bond_bases_ag=bases_ag,
        bond_bases_bg=bases_bg,
        angle_bases=angles,
        batched_atom_graph=t["atom_graph"],
        batched_bond_graph=bg[:, [0, 1, 3]] if len(bg) else torch.tensor([]),
        atom_owners=t["owner"].to(torch.int32),
        directed2undirected=t["d2u"],
        atom_positions=[positions],
        strains=[strains],
        volumes=volumes.detach(),
    )
    comp = model.composition_model._get_energy(t["comp"]) if t["comp"] is not None else 0
    return g, positions, strains, comp


def predict_efs(model, graphs: Sequence, batched: bool | None = None) -> list[dict]:
    """CHGNet energy (eV/atom), forces (eV/A), stress (GPa) of graphs with one backward pass (float32 numpy)."""
    from chgnet.model.model import BatchedGraph  # slow import (module comment)

    model.eval()
    device = next(model.parameters()).device
    if batched is None:  # ASSEMBLY_ENV ("chgnet" or "batched") overrides the default, for benchmarks
        forced = os.environ.get(ASSEMBLY_ENV, "")
        if forced not in ("", "chgnet", "batched"):
            raise ValueError(f"{ASSEMBLY_ENV} must be 'chgnet' or 'batched', got {forced!r}")
        batched = forced == "batched" if forced else device.type != "cpu"
    with warnings.catch_warnings():  # harmless torch warning, once per process (CHGNet reads volumes as floats)
        warnings.filterwarnings("ignore", message=CHGNET_SCALAR_WARNING, category=UserWarning)
        if batched:  # assembled by `_batched`: one transfer to and from `device`
            g, _, _, comp = _batched(model, graphs, device)
        else:
            graphs = _on_device(model, graphs)
            comp = 0 if model.composition_model is None else model.composition_model(graphs)
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
    grads = torch.autograd.grad(total.sum(), [*g.atom_positions, *g.strains], create_graph=True)  # (batched: 2)
    e = (pred["e"] + comp) if model.is_intensive else (pred["e"] + comp) / n
    scale = 1 / g.volumes * 160.21766208  # eV/A^3 -> GPa, in CHGNet's order of operations
    with torch.no_grad():
        if batched:
            e, f, s = (x.detach().cpu().numpy() for x in (e, -1 * grads[0], grads[1] * scale.view(-1, 1, 1)))
            f = np.split(f, np.cumsum(n.cpu().numpy())[:-1])
            return [dict(e=e[i], f=f[i], s=s[i]) for i in range(k)]
        return [
            dict(
                e=e[i].detach().cpu().numpy(),
                f=(-1 * grads[i]).detach().cpu().numpy(),
                s=(grads[k + i] * scale[i]).detach().cpu().numpy(),
            )
            for i in range(k)
        ]


def predict_e(model, graphs: Sequence) -> list[dict]:
    """CHGNet energy (eV/atom, float32) of graphs: its own forward pass, no gradients (~1/5 of `predict_efs`)."""
    model.eval()
    with torch.no_grad():
        e = model(_on_device(model, graphs), task="e")["e"]
    return [dict(e=x.cpu().numpy()) for x in e]


def graph_edges(graph) -> int:
    """Bonds plus angles of a CHGNet graph: a call's memory grows with them (~50 kB per edge on CPU)."""
    bonds = graph.atom_graph.shape[0]
    return bonds + (graph.bond_graph.shape[0] if graph.bond_graph is not None else 0)


def chunks(sizes: Sequence[int], batch_size: int, max_edges: int | None = None) -> list[list[int]]:
    """Consecutive index groups of at most `batch_size` graphs and `max_edges` edges (a bigger graph alone)."""
    out: list[list[int]] = []
    total = 0
    for i, n in enumerate(sizes):
        if not out or len(out[-1]) >= batch_size or (max_edges and total + n > max_edges):
            out.append([])
            total = 0
        out[-1].append(i)
        total += n
    return out


MIN_GRAPHS = 4  # a call with fewer graphs gets a structure's energy a float32 step off on some CPUs (see `predict`)


def companion_graph(model):
    """The fixed graph (rock salt NaCl, 8 atoms) that `predict(..., companion=True)` ends every call with."""
    graph = getattr(model, "_wylib_companion", None)
    if graph is None:
        nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
        graph = model.graph_converter(nacl)
        model._wylib_companion = graph
    return graph


def predict(
    model,
    structures: Sequence[Structure],
    batch_size: int = 32,
    task: str = "efs",
    max_edges: int | None = None,
    companion: bool = False,
) -> list[dict | Failure]:
    """Per structure, `predict_efs`/`predict_e` or a `Failure`, in calls of `chunks` (a failing one one by one)."""
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
        call = [*gs, *[companion_graph(model)] * max(1, MIN_GRAPHS - len(gs))] if companion else gs
        return (predict_efs(model, call) if task == "efs" else predict_e(model, call))[: len(gs)]

    for part in chunks([graph_edges(g) for g in graphs], batch_size, max_edges):
        idx, gs = [where[j] for j in part], [graphs[j] for j in part]
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


def evaluate(
    model,
    structures: Sequence[Structure],
    batch_size: int = 32,
    max_edges: int | None = None,
    companion: bool = False,
) -> list[dict | Failure]:
    """Energy (eV), forces, stress (eV/A^3) per structure or a `Failure`, as `CHGNetCalculator` stores them."""
    out: list[dict | Failure] = []
    for s, p in zip(structures, predict(model, structures, batch_size, "efs", max_edges, companion), strict=True):
        extensive = len(s) if model.is_intensive else 1
        out.append(
            p if isinstance(p, Failure) else dict(energy=p["e"] * extensive, forces=p["f"], stress=p["s"] * units.GPa)
        )
    return out


def energies_per_atom(model, structures: Sequence[Structure], batch_size: int = 32) -> list[float | Failure]:
    """CHGNet energy per atom (eV, float32 value as a float) of each structure, or a `Failure`."""
    return [p if isinstance(p, Failure) else float(p["e"]) for p in predict(model, structures, batch_size, "e")]
