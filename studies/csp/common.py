"""What the CSP scripts share: the matcher, the test split's structures by formula, a resumable clock, the log.

Scripts: `compositions.py` (the drawn test compositions), `benchmark.py` (match rate and RMSE), `efficiency.py`
(S.U.N. candidates per minute, targeted against filtered). Method: studies/csp/README.md.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from wylib.data import load_split, parse_structures
from wylib.generated import build_samples, generate_structures
from wylib.rediscovery import cif_reduced_formula
from wylib.relax import RelaxConfig

DATASET = "mp_20_biternary_open"
RESULTS = Path(__file__).resolve().parent / "results"
# the CSP literature's settings (DiffCSP, DiffCSP++, CrystaLLM); StructureMatcher's other defaults kept
MATCHER_SETTINGS = dict(stol=0.5, angle_tol=10, ltol=0.3)


def matcher() -> StructureMatcher:
    return StructureMatcher(**MATCHER_SETTINGS)


def best_rms(candidate: Structure | None, truths: list[Structure], sm: StructureMatcher | None = None) -> float | None:
    """The smallest normalized rms distance (`get_rms_dist()[0]`: rms over sites / (V/n)^(1/3)) between a
    candidate and any of the true structures it matches; None if it matches none (or is None)."""
    if candidate is None:
        return None
    sm = sm or matcher()
    rms = [r[0] for t in truths if (r := sm.get_rms_dist(candidate, t)) is not None]
    return min(rms) if rms else None


def test_structures(formulas: set[str], dataset: str = DATASET) -> dict[str, list[Structure]]:
    """Every test-split structure of the given reduced formulas, by formula: all of them count as matches."""
    test = load_split(dataset, "test")
    rows = [(f, c) for c in test["cif"] if (f := cif_reduced_formula(c)) in formulas]
    structures = parse_structures([c for _, c in rows], n_jobs=1)[0]
    out: dict[str, list[Structure]] = {f: [] for f in formulas}
    for (f, _), s in zip(rows, structures, strict=True):
        if s is not None:
            out[f].append(s)
    return out


def parse_rows(text: str) -> slice:
    """START:STOP as a slice, with a clear error for anything else."""
    try:
        a, b = map(int, text.split(":"))
    except ValueError:
        raise SystemExit(f"--rows wants START:STOP (two integers), got {text!r}") from None
    if not 0 <= a < b:
        raise SystemExit(f"--rows wants 0 <= START < STOP, got {text!r}")
    return slice(a, b)


def read_parts(res_dir: Path, pattern: str, key: list[str], what: str) -> tuple[list[Path], pd.DataFrame]:
    """The part files matching `pattern` in res_dir and their rows concatenated; an error where there is none, or
    where a `key` (a composition, a system) appears in two parts."""
    parts = sorted(res_dir.glob(pattern))
    if not parts:
        raise SystemExit(f"no parts {pattern} in {res_dir}")
    frame = pd.concat([pd.read_csv(f) for f in parts], ignore_index=True)
    if frame.duplicated(key).any():
        raise SystemExit(f"{what} appears in two parts: {frame[frame.duplicated(key)].head()}")
    return parts, frame


def machine_name() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model name")), "unknown")


def run_conditions(workers: int) -> str:
    """How the relaxations ran, for a result header: worker processes and this process's nice value."""
    where = f"{workers} relax worker processes" if workers else "relaxation in the main process"
    return f"{where}, one torch thread each, nice {os.nice(0)}"


def single_thread() -> None:
    """One torch thread (the scripts run beside other work on a 2-core machine)."""
    torch.set_num_threads(1)


def get_logger(path: Path, name: str) -> logging.Logger:
    """Log to `path` (appended: a resumed run continues the same log) and to stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for h in (logging.FileHandler(path), logging.StreamHandler()):
        h.setFormatter(fmt)
        log.addHandler(h)
    return log


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children: unlike wall time, not inflated by other work on
    the machine (with --workers 0 every stage runs in this process, so nothing escapes it)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU seconds per stage, saved to a JSON file at every `tick`: summed over the runs that did the work,
    so a killed and resumed run reports the time its finished work took (the unfinished part of a killed run is
    lost). `seconds` holds wall time, `cpu` CPU time (`cpu_seconds`). A stage that every run redoes in full (matching,
    scoring) is entered with `redo=True`: its time replaces the saved one instead of adding to it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        if saved and "wall" not in saved:  # written before CPU time was kept: wall seconds only
            saved = {"wall": saved, "cpu": {}}
        self.seconds: dict[str, float] = saved.get("wall", {})
        self.cpu: dict[str, float] = saved.get("cpu", {})
        self._stage: str | None = None
        self._since = self._since_cpu = 0.0

    def tick(self, *_) -> None:
        if self._stage is not None:
            now, now_cpu = time.perf_counter(), cpu_seconds()
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + now - self._since
            self.cpu[self._stage] = self.cpu.get(self._stage, 0.0) + now_cpu - self._since_cpu
            self._since, self._since_cpu = now, now_cpu
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"wall": self.seconds, "cpu": self.cpu}, indent=1))

    @contextmanager
    def stage(self, name: str, redo: bool = False):
        if redo:
            self.seconds[name] = self.cpu[name] = 0.0
        self._stage, self._since, self._since_cpu = name, time.perf_counter(), cpu_seconds()
        try:
            yield self
        finally:
            self.tick()
            self._stage = None

    def total(self, prefix: str = "", cpu: bool = False) -> float:
        return sum(v for k, v in (self.cpu if cpu else self.seconds).items() if k.startswith(prefix))


def add_common_arguments(p, out: str, name: str) -> None:
    """The options benchmark.py and efficiency.py share."""
    p.add_argument("--steps", type=int, default=500, help="FIRE steps per relaxation phase")
    p.add_argument("--cap", type=int, default=200_000, help="samples at most of the unconstrained stream")
    p.add_argument("--batch", type=int, default=10_000, help="samples per batch of the unconstrained stream")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", default="runs/default")
    p.add_argument("--out", default=out, help="work directory (one subdirectory per method)")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--name", default=name, help="result files <results>/<name>.*")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="relax worker processes, one thread each (0: in this process; 2 on a free 2-core machine)",
    )
    p.add_argument("--no-progress", action="store_true")


def build_and_relax(samples: list[dict], work: Path, clock: Clock, args):
    """1 pyXtal trial and a CHGNet relaxation (fmax 0.05, args.steps) per sample through `generate_structures`,
    resumable; the clock's stages "build" and "relax" (ticked at every finished relaxation)."""
    with clock.stage("build"):  # cached in builds.jsonl, which generate_structures then reads
        build_samples(samples, work / "builds.jsonl", 1, args.seed, True, max(args.workers, 1), not args.no_progress)
    with clock.stage("relax"):
        return generate_structures(samples, work, n_trials=1, seed=args.seed, config=RelaxConfig(steps=args.steps),
                                   n_workers=args.workers, threads=1, progress=not args.no_progress,
                                   on_result=clock.tick)  # fmt: skip
