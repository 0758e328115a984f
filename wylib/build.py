"""Wyckoff representation -> 3D structure with pyXtal. Method: docs/relaxation.md."""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import numpy as np
from pymatgen.core import Structure
from pyxtal import pyxtal
from pyxtal.tolerance import Tol_matrix
from tqdm.auto import tqdm

from wylib.symmetry import spacegroup_table

Trial = tuple[Structure | None, str | None]  # (structure, failure reason or None)

TOL_FACTOR = 1.3


def trial_seed(seed: int, index: int) -> int:
    """Independent, reproducible 32-bit seed for trial `index` of a run seeded `seed`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def check_args(args: dict) -> str | None:
    """Why `args` is not well-formed pyXtal arguments (docs/relaxation.md, `check_args`), else None."""
    try:
        group, species, num, sites = (args[k] for k in ("group", "species", "numIons", "sites"))
    except (KeyError, TypeError):
        return "bad_args: missing key"
    if not isinstance(group, (int, np.integer)) or not 1 <= int(group) <= 230:
        return "bad_args: group"
    if not (len(species) == len(num) == len(sites)) or len(species) == 0:
        return "bad_args: lengths"
    multiplicity = {wp.label: wp.multiplicity for wp in spacegroup_table(int(group)).positions}
    for n, labels in zip(num, sites, strict=True):
        if any(not isinstance(lab, str) or lab not in multiplicity for lab in labels):
            return "bad_args: Wyckoff label not in group"
        if not labels or sum(multiplicity[lab] for lab in labels) != n:
            return "bad_args: numIons != sum of multiplicities"
    return None


class _Timeout(BaseException):  # BaseException: pyXtal swallows Exception internally
    pass


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """A limit on the process's CPU time (SIGPROF), so that a busy machine does not fail builds a quiet one
    finishes; a no-op outside the main thread or without a limit."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    expired = False

    def handler(signum, frame):  # noqa: ARG001
        nonlocal expired
        expired = True
        raise _Timeout

    old = signal.signal(signal.SIGPROF, handler)
    signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
    if expired:
        raise _Timeout


def build_one(
    args: dict, seed: int, *, timeout: float | None = 30.0, max_count: int = 10, primitive: bool = False
) -> Trial:
    """One pyXtal `from_random` trial; returns (Structure, None) or (None, reason)."""
    if (reason := check_args(args)) is not None:
        return None, reason
    xtal = pyxtal()
    try:
        with _time_limit(timeout), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xtal.from_random(
                3,
                int(args["group"]),
                list(args["species"]),
                [int(n) for n in args["numIons"]],
                sites=[list(s) for s in args["sites"]],
                max_count=max_count,
                tm=Tol_matrix(prototype="atomic", factor=TOL_FACTOR),
                random_state=seed,
            )
            if not xtal.valid:
                return None, "pyxtal_invalid"
            structure = xtal.to_pymatgen()
    except _Timeout:
        return None, "timeout"
    except Exception as err:  # pyXtal raises many types (RuntimeError, ValueError, its own)
        return None, f"pyxtal_error: {type(err).__name__}"
    if len(structure) != sum(int(n) for n in args["numIons"]):
        return None, "atom_count_mismatch"
    return (structure.get_primitive_structure() if primitive else structure), None


def build_structure(args: dict, n_trials: int = 6, seed: int = 0, **kwargs) -> list[Trial]:
    """`n_trials` independent trials for one Wyckoff representation, deterministic in `seed`."""
    return [build_one(args, trial_seed(seed, i), **kwargs) for i in range(n_trials)]


def _build_task(task: tuple[dict, int, int, dict]) -> list[Trial]:
    args, n_trials, seed, kwargs = task
    return build_structure(args, n_trials=n_trials, seed=seed, **kwargs)


def build_many(
    args_list: Sequence[dict], seeds: Sequence[int], n_trials: int = 6, *, n_workers: int = 1, progress=False, **kwargs
) -> Iterator[list[Trial]]:
    """`build_structure` for many samples (a generator), sample i seeded `seeds[i]`, over `n_workers`."""
    tasks = [(a, n_trials, sd, kwargs) for a, sd in zip(args_list, seeds, strict=True)]
    bar = dict(total=len(tasks), desc="build", disable=not progress, mininterval=5)
    if n_workers <= 1 or len(tasks) < 2:
        yield from (_build_task(t) for t in tqdm(tasks, **bar))
        return
    chunk = max(1, min(16, len(tasks) // (4 * n_workers)))
    with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as pool:
        yield from tqdm(pool.map(_build_task, tasks, chunksize=chunk), **bar)


def count_failures(trials: Iterable[list[Trial]]) -> dict:
    """Tally of a build run: samples, samples with >= 1 structure, trials, reasons."""
    trials = list(trials)
    reasons = Counter(r for ts in trials for _, r in ts if r is not None)
    n_ok = sum(any(s is not None for s, _ in ts) for ts in trials)
    n_trials = sum(len(ts) for ts in trials)
    return dict(
        n_samples=len(trials),
        n_samples_built=n_ok,
        sample_success_rate=n_ok / len(trials) if trials else float("nan"),
        n_trials=n_trials,
        n_trials_built=n_trials - sum(reasons.values()),
        failures=dict(sorted(reasons.items())),
    )
