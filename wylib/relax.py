"""Batched CHGNet relaxation, resumable, over a process pool or a Dask cluster. Method: docs/relaxation.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import numbers
import os
import queue as queue_mod
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixSymmetry
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from tqdm.auto import tqdm

from wylib.chgnet import Failure, evaluate, load_model
from wylib.device import device_kind

FLAGS = ("converged", "not_converged", "nan_energy", "exploded_cell", "chgnet_error", "atoms_too_close")
USABLE_FLAGS = ("converged", "not_converged")  # a relaxed structure with an energy; the others are failures
MIN_DISTANCE = 0.5  # A, shortest distance in a relaxed structure (H-H is 0.74 A; docs/relaxation.md)
STUCK_AFTER_S = 120.0  # after a pool worker died, silence this long from the others means they are blocked


def too_close(structure: Structure, threshold: float = MIN_DISTANCE) -> float | None:
    """Shortest distance between two atoms (periodic images included) if below `threshold`, else None."""
    dist = structure.get_neighbor_list(threshold)[3]
    return float(dist.min()) if len(dist) else None


def _collapsed(flag: str, structure: Structure) -> str | None:
    """The atoms_too_close error of a usable relaxation whose structure has two atoms too close, else None."""
    if flag in USABLE_FLAGS and (d := too_close(structure)) is not None:
        return f"{flag}, but two atoms {d:.3f} A apart (< {MIN_DISTANCE} A)"
    return None


@dataclass(frozen=True)
class RelaxConfig:
    """Relaxation protocol; defaults follow the paper (docs/paper-notes.md)."""

    fmax: float = 0.05  # eV/A, on forces (and on stress x volume in the cell phase)
    steps: int = 500  # step cap per phase
    phases: tuple[str, ...] = ("positions", "cell")
    symmetry: bool = True  # ase FixSymmetry constraint
    symprec: float = 0.01
    batch_size: int | None = None  # structures per CHGNet call; None: by device (`resolved`)
    # graph edges (bonds + angles) per CHGNet call at most, a bigger structure alone; bounds a worker's memory
    # (about 50 kB per edge on CPU). None: by device (`resolved`); 0: no cap
    max_edges: int | None = None
    max_volume_ratio: float = 5.0  # flag exploded_cell beyond V/V0 > r or < 1/r
    device: str = "cpu"  # CHGNet device: "cpu", "cuda", or "auto" (CUDA when available)

    def __post_init__(self):
        if not self.phases or any(p not in ("positions", "cell") for p in self.phases):
            raise ValueError(f"RelaxConfig.phases must be a non-empty sequence of 'positions'/'cell': {self.phases}")
        _check_number("fmax", self.fmax, above=0)  # inf marked unrelaxed structures converged, NaN never stopped
        _check_number("symprec", self.symprec, above=0)  # NaN or negative segfaults spglib in the worker
        _check_number("max_volume_ratio", self.max_volume_ratio, above=1, allow_inf=True)  # inf: no cell check
        _check_number("steps", self.steps, above=0, integer=True)  # 0 counted unrelaxed structures usable
        _check_number("batch_size", self.batch_size, above=0, integer=True, optional=True)
        _check_number("max_edges", self.max_edges, above=-1, integer=True, optional=True)
        if self.device != "auto" and not re.fullmatch(r"cpu|cuda(:\d+)?", str(self.device)):
            raise ValueError(f"RelaxConfig.device must be 'auto', 'cpu' or 'cuda[:N]', not {self.device!r}")

    def resolved(self, device: str | None = None) -> RelaxConfig:
        """Batch size and edge cap filled in for `device` (default: its own; docs/relaxation.md, Defaults)."""
        gpu = device_kind(device or self.device) == "cuda"
        batch = self.batch_size if self.batch_size is not None else (GPU_BATCH_SIZE if gpu else CPU_BATCH_SIZE)
        edges = self.max_edges if self.max_edges is not None else (0 if gpu else CPU_MAX_EDGES)
        return replace(self, batch_size=batch, max_edges=edges)


# batch size, edge cap and worker memory: measurements in docs/relaxation.md ("Defaults") and bench/RESULTS.md
def _check_number(name: str, value, above: float, integer=False, allow_inf=False, optional=False) -> None:
    """A finite number (an int where `integer`, None where `optional`) > `above`, else a ValueError naming it."""
    if optional and value is None:
        return
    kind_ok = isinstance(value, numbers.Integral if integer else numbers.Real)
    finite = kind_ok and (math.isfinite(value) or (allow_inf and value == math.inf))
    if isinstance(value, bool) or not kind_ok or not finite or value <= above:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"RelaxConfig.{name} must be {kind} > {above}, not {value!r}")


CPU_BATCH_SIZE = 32
GPU_BATCH_SIZE = 128
CPU_MAX_EDGES = 10_000
WORKER_MEMORY_GB = {"cpu": 2.5, "cuda": 4.0}  # host memory one relax worker may take, by device kind


def worker_layout(device: str = "auto", cpus: int | None = None, memory_gb: float | None = None) -> int:
    """Relax worker processes for this machine (`n_workers="auto"`)."""
    kind = device_kind(device)
    cpus = cpus or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1
    memory_gb = memory_gb if memory_gb is not None else _memory_gb()
    per_core = cpus - 1 if kind == "cuda" else cpus
    return max(1, min(per_core, int(memory_gb // WORKER_MEMORY_GB[kind])))


def _memory_gb() -> float:
    """Host memory in GiB, or the cgroup (container, batch job) limit when that is lower."""
    total = psutil.virtual_memory().total
    with contextlib.suppress(OSError, ValueError):
        total = min(total, int(Path("/sys/fs/cgroup/memory.max").read_text().strip()))  # "max": no limit
    return total / 2**30


def n_workers_for(n_workers: int | str, device: str) -> int:
    """`n_workers` as a count: an int as it is, "auto" through `worker_layout`."""
    if n_workers == "auto":
        return worker_layout(device)
    if isinstance(n_workers, bool) or not isinstance(n_workers, numbers.Integral) or n_workers < 0:
        raise ValueError(f"n_workers must be an integer >= 0 or 'auto', got {n_workers!r}")
    return int(n_workers)


@dataclass
class RelaxResult:
    """Outcome of one relaxation; `structure` is the final structure as a pymatgen dict."""

    id: str
    flag: str
    energy_per_atom: float | None = None  # eV/atom, CHGNet, at the final structure
    n_steps: list[int] = field(default_factory=list)  # FIRE steps per phase
    fmax_final: float | None = None
    volume_ratio: float | None = None
    structure: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _structure(atoms: Atoms) -> Structure:
    """Fast Atoms -> Structure (no site properties)."""
    return Structure(
        Lattice(np.array(atoms.cell)), atoms.get_chemical_symbols(), atoms.positions, coords_are_cartesian=True
    )


class _Cached(Calculator):
    """Calculator holding results computed outside (in a batch); misses compute alone."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model):
        super().__init__()
        self.model = model

    def put(self, atoms: Atoms, res: dict) -> None:
        self.atoms = atoms.copy()
        self.results = dict(
            energy=res["energy"], free_energy=res["energy"], forces=res["forces"].copy(), stress=res["stress"].copy()
        )

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = evaluate(self.model, [_structure(self.atoms)])[0]
        if isinstance(res, Failure):
            raise RuntimeError(str(res))
        self.put(self.atoms, res)


class _FIRE(FIRE):
    """ASE FIRE reusing the gradient of the convergence test (ASE's `irun` computes it twice; docs/relaxation.md)."""

    gradient: np.ndarray | None = None

    def _get_gradient(self, forces=None):
        gradient, self.gradient = self.gradient, None
        return gradient if gradient is not None and forces is None else super()._get_gradient(forces)


class _Job:
    """One structure being relaxed: atoms, current phase, FIRE optimizer, flags."""

    def __init__(self, key: str, structure: Structure, model, cfg: RelaxConfig):
        self.key, self.cfg = key, cfg
        self.atoms = AseAtomsAdaptor.get_atoms(structure)
        self.atoms.calc = _Cached(model)
        self.n_atoms = len(self.atoms)
        self.v0 = self.atoms.get_volume()
        self.phase, self.n_steps, self.opt = -1, [], None
        self.result: RelaxResult | None = None
        if cfg.symmetry:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.atoms.set_constraint(FixSymmetry(self.atoms, symprec=cfg.symprec))
            except Exception as err:
                self.finish("chgnet_error", error=f"FixSymmetry: {type(err).__name__}: {err}")

    def next_phase(self) -> None:
        self.phase += 1
        target = FrechetCellFilter(self.atoms) if self.cfg.phases[self.phase] == "cell" else self.atoms
        self.opt = _FIRE(target, logfile=None)
        self.opt.fmax = self.cfg.fmax
        self.n_steps.append(0)

    def finish(self, flag: str, energy: float | None = None, fmax: float | None = None, error: str | None = None):
        v = self.atoms.get_volume() / self.v0
        e = float(energy) / self.n_atoms if energy is not None else None
        final = _structure(self.atoms) if flag != "chgnet_error" else None
        if final is not None and (collapsed := _collapsed(flag, final)) is not None:
            flag, error = "atoms_too_close", collapsed
        structure = final.as_dict() if final is not None else None
        self.result = RelaxResult(self.key, flag, e, list(self.n_steps), fmax, float(v), structure, error)

    def advance(self, res: dict | Failure) -> None:
        """Feed this step's CHGNet result; then either finish or take one FIRE step."""
        if isinstance(res, Failure):
            return self.finish("chgnet_error", error=str(res))
        energy = res["energy"]
        if not (math.isfinite(energy) and np.isfinite(res["forces"]).all() and np.isfinite(res["stress"]).all()):
            return self.finish("nan_energy", error="non-finite CHGNet output")
        self.atoms.calc.put(self.atoms, res)
        v = self.atoms.get_volume() / self.v0
        if not 1 / self.cfg.max_volume_ratio < v < self.cfg.max_volume_ratio:
            return self.finish("exploded_cell", energy)
        if self.opt is None:
            self.next_phase()
        while True:  # as Dynamics.irun: converged?  else step
            grad = self.opt.optimizable.get_gradient()
            if self.opt.gradient_converged(grad) or self.n_steps[-1] >= self.cfg.steps:
                converged = self.opt.gradient_converged(grad)
                if self.phase + 1 < len(self.cfg.phases):
                    self.next_phase()  # same atoms: cached result is reused
                    continue
                fmax = float(np.sqrt((grad.reshape(-1, 3) ** 2).sum(1).max()))
                return self.finish("converged" if converged else "not_converged", energy, fmax)
            self.opt.gradient = grad
            self.opt.step()
            self.opt.nsteps += 1
            self.n_steps[-1] += 1
            return None


class BatchRelaxer:
    """Relax many structures with one batched CHGNet call per FIRE step."""

    def __init__(
        self, config: RelaxConfig = RelaxConfig(), model=None, threads: int | None = None, companion: bool | None = None
    ):
        """`companion` (default: on unless the batch size is 1): docs/relaxation.md, `BatchRelaxer`."""
        self.model = model if model is not None else load_model(threads, config.device)
        # the batch size follows the device the model is on (a CUDA model may come with config.device "cpu")
        self.cfg = config.resolved(str(next(self.model.parameters()).device))
        self.companion = self.cfg.batch_size > 1 if companion is None else companion

    def relax(
        self,
        items: Iterable[tuple[str, Structure]],
        on_result: Callable[[RelaxResult], None] | None = None,
        progress: bool = False,
    ) -> list[RelaxResult]:
        """Relax `(id, Structure)` pairs in their order; `on_result` is called as each one finishes."""
        total = len(items) if hasattr(items, "__len__") else None
        items = iter(items)
        active: list[_Job] = []
        done: list[RelaxResult] = []
        bar = tqdm(total=total, disable=not progress, desc="relax", mininterval=5)

        def collect(job: _Job):
            done.append(job.result)
            bar.update()
            if on_result is not None:
                on_result(job.result)

        while True:
            while len(active) < self.cfg.batch_size and (item := next(items, None)) is not None:
                job = _Job(*item, self.model, self.cfg)
                (collect(job) if job.result is not None else active.append(job))
            if not active:
                break
            structures = [_structure(j.atoms) for j in active]
            cfg = self.cfg
            results = evaluate(self.model, structures, cfg.batch_size, cfg.max_edges, self.companion)
            for job, res in zip(active, results, strict=True):
                try:
                    job.advance(res)
                except Exception as err:  # never let one structure kill the batch
                    job.finish("chgnet_error", error=f"step: {type(err).__name__}: {str(err)[:200]}")
                if job.result is not None:
                    collect(job)
            active = [j for j in active if j.result is None]
        bar.close()
        return done


# ---------------------------------------------------------------- distributed + resumable

_WORKER_MODEL: dict[tuple[int, str], Any] = {}


def _relax_chunk(chunk: list[tuple[str, dict]], config: RelaxConfig, threads: int | None) -> list[dict]:
    """Worker entry point (Dask): one model per worker process."""
    key = (os.getpid(), config.device)
    if key not in _WORKER_MODEL:
        _WORKER_MODEL[key] = load_model(threads, config.device)
    relaxer = BatchRelaxer(config, model=_WORKER_MODEL[key])
    return [r.to_dict() for r in relaxer.relax([(k, Structure.from_dict(s)) for k, s in chunk])]


def _exit_with_parent(poll: float = 0.5) -> threading.Thread:
    """Start a daemon thread that ends this (worker) process as soon as its parent process is gone."""
    parent = mp.parent_process()
    ppid = parent.pid if parent is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == ppid and (parent is None or parent.is_alive()):
            time.sleep(poll)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def _stream_worker(tasks, results, config: RelaxConfig, threads: int | None) -> None:
    """Local pool worker: pulls a structure whenever its batch has a free slot, sends each result at once."""
    _exit_with_parent()
    try:
        relaxer = BatchRelaxer(config, model=load_model(threads, config.device))

        def pull():  # a task is one (id, structure dict)
            while (task := tasks.get()) is not None:
                yield task[0], Structure.from_dict(task[1])

        relaxer.relax(pull(), on_result=lambda r: results.put(r.to_dict()))
    except BaseException as err:
        results.put({"worker_error": f"{type(err).__name__}: {str(err)[:300]}"})
        raise
    finally:
        results.put(None)


def _relax_streaming(todo: list, config: RelaxConfig, n_par: int, threads: int, write: Callable, progress: bool):
    """Spread `todo` over `n_par` spawned worker processes that share one task queue (one task per structure)."""
    config = config.resolved()
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for k, s in todo:
        tasks.put((k, s.as_dict()))
    for _ in range(n_par):
        tasks.put(None)
    # few structures: cap each worker's batch so that all workers get a share from the start
    # (at least 2 unless one-at-a-time was asked for, so that the calls keep their companion: `BatchRelaxer`)
    small = max(2, math.ceil(len(todo) / n_par)) if config.batch_size > 1 else 1
    cfg = replace(config, batch_size=min(config.batch_size, small))
    procs = [ctx.Process(target=_stream_worker, args=(tasks, results, cfg, threads), daemon=True) for _ in range(n_par)]
    with _thread_env(threads):
        for p in procs:
            p.start()
    bar = tqdm(total=len(todo), disable=not progress, desc="relax", mininterval=5)
    open_workers, errors, n_done, last = n_par, [], 0, time.monotonic()
    while open_workers:
        try:
            msg = results.get(timeout=5)
        except queue_mod.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                break  # a worker was killed (e.g. out of memory) without saying goodbye
            if any(p.exitcode not in (None, 0) for p in procs) and time.monotonic() - last > STUCK_AFTER_S:
                # a worker killed while holding a shared queue's lock leaves the others blocked forever:
                # stop them; finished results are saved and the error below asks for a rerun
                for p in procs:
                    p.terminate()
                break
            continue
        last = time.monotonic()
        if msg is None:
            open_workers -= 1
        elif "worker_error" in msg:
            errors.append(msg["worker_error"])
        else:
            write(msg)
            n_done += 1
            bar.update()
    bar.close()
    for p in procs:
        p.join(timeout=30)
    if n_done < len(todo):
        codes = [p.exitcode for p in procs]
        raise RuntimeError(
            f"{len(todo) - n_done} of {len(todo)} relaxations did not finish (worker exit codes "
            f"{codes}, errors {errors}); finished ones are saved, rerun to resume"
        )


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of a results file; a torn last line (killed writer) is ignored."""
    path = Path(path)
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def end_torn_line(path: Path) -> None:
    """End a killed writer's torn last line, so that appended records start lines of their own."""
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a") as fh:
            fh.write("\n")


@contextlib.contextmanager
def _thread_env(threads: int):
    """Spawned workers inherit BLAS/OpenMP thread limits unless set (idle BLAS threads spin and take CPU)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ.setdefault(n, str(threads))
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)


def input_key(structure: Structure, config: RelaxConfig) -> str:
    """Hash of the initial structure and the protocol (not batch size, edge cap, device): the resume key."""
    proto = {k: v for k, v in asdict(config).items() if k not in ("batch_size", "max_edges", "device")}
    blob = json.dumps([structure.as_dict(), proto], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def relax_to_jsonl(
    items: Iterable[tuple[str, Structure]],
    path: str | Path,
    config: RelaxConfig = RelaxConfig(),
    *,
    n_workers: int | str = 1,
    scheduler: Any = None,
    chunk_size: int | None = None,
    threads: int | None = None,
    model=None,
    progress: bool = True,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Relax `(id, Structure)` pairs into a JSON-lines file, skipping ids already there."""
    items = list(items)
    dask_auto = scheduler is not None and n_workers == "auto"  # Dask: one chunk stream per cluster worker
    n_workers = n_workers if dask_auto else n_workers_for(n_workers, config.device)
    keys = {k: input_key(s, config) for k, s in items}
    if len(keys) != len(items):
        raise ValueError("duplicate ids")

    def current(records: list[dict]) -> list[dict]:
        latest = {r["id"]: r for r in records if r.get("input_key") == keys.get(r.get("id"))}
        return list(latest.values())

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done_records = {r["id"]: r for r in current(read_jsonl(path))}
    todo = [(k, s) for k, s in items if k not in done_records]
    end_torn_line(path)
    with path.open("a") as fh:

        def write(rec: dict) -> None:
            rec = {**rec, "input_key": keys[rec["id"]]}
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            if on_result is not None:
                on_result(rec)

        if todo and scheduler is None and n_workers == 0:
            relaxer = BatchRelaxer(config, model=model, threads=threads)
            relaxer.relax(todo, on_result=lambda r: write(r.to_dict()), progress=progress)
        elif todo:
            if scheduler is not None:
                # Dask only when a cluster is asked for: `distributed` takes a second or two to import
                from distributed import Client, as_completed as dask_completed

                client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
                # "auto" on a cluster: its workers' count, each with torch's own thread default
                n_par = max(1, len(client.scheduler_info()["workers"])) if dask_auto else max(1, n_workers)
                threads = threads or (None if dask_auto else max(1, (os.cpu_count() or 1) // n_par))
                size = chunk_size or max(1, min(config.resolved().batch_size, math.ceil(len(todo) / n_par)))
                chunks = [[(k, s.as_dict()) for k, s in todo[i : i + size]] for i in range(0, len(todo), size)]
                bar = tqdm(total=len(todo), disable=not progress, desc="relax", mininterval=5)
                futures = client.map(_relax_chunk, chunks, config=config, threads=threads, pure=False)
                for fut in dask_completed(futures):
                    for rec in fut.result():
                        write(rec)
                    bar.update(len(fut.result()))
                if client is not scheduler:
                    client.close()
                bar.close()
            else:
                n_par = max(1, n_workers)
                threads = threads or max(1, (os.cpu_count() or 1) // n_par)
                _relax_streaming(todo, config, n_par, threads, write, progress)
    return current(read_jsonl(path))


def checked(rec: dict) -> dict:
    """`rec`, or a copy flagged atoms_too_close if usable but collapsed (records written before the check)."""
    if rec["flag"] in USABLE_FLAGS and isinstance(rec.get("structure"), dict):
        if (collapsed := _collapsed(rec["flag"], Structure.from_dict(rec["structure"]))) is not None:
            return {**rec, "flag": "atoms_too_close", "error": collapsed}
    return rec


def usable(rec: dict) -> bool:
    """A relaxed structure with an energy (flag in `USABLE_FLAGS`)."""
    return rec["flag"] in USABLE_FLAGS and rec.get("energy_per_atom") is not None


def best_trials(records: Iterable[dict], sep: str = "/") -> dict[str, dict]:
    """Lowest-energy usable `checked` record per sample (ids `<sample><sep><trial>`), else its first record."""
    best: dict[str, dict] = {}
    for rec in records:
        rec = checked(rec)
        sample = rec["id"].rsplit(sep, 1)[0]
        cur = best.get(sample)
        if cur is None or (usable(rec) and (not usable(cur) or rec["energy_per_atom"] < cur["energy_per_atom"])):
            best[sample] = rec
    return best
