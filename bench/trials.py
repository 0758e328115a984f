"""The trials the relax benchmarks share: the first `--n` valid samples of a run x `--trials` pyXtal trials,
the energy differences by which they compare two relaxations of them (`kept_differences`, `trial_differences`),
and how they save their result (`save_result`).

`bench.bench_relax`, `bench.bench_assembly`, `bench.bench_relax_memory` and `studies.protocol.bench_optimizers`
relax the same trials (same samples as the `paper` profile draws them, same build seeds as notebook 04).
Importing this module limits BLAS/OpenMP to 1 thread before numpy and torch load (the relax workers' setting),
so it is the first import beyond the standard library in those scripts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy and torch load

from wylib.generated import build_samples, model_samples  # noqa: E402
from wylib.relax import usable  # noqa: E402


def trial_arguments(ap: argparse.ArgumentParser, n: int) -> None:
    """The options that choose the trials (`trial_items`) and the protocol, shared by the relax benchmarks."""
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run-dir", default="runs/default")


def trial_items(a: argparse.Namespace, out: Path) -> tuple[list[dict], list[tuple[str, object]]]:
    """The samples and their built trials ``("<sample_id>/<trial>", structure)``; builds in ``out/builds.jsonl``."""
    samples = model_samples(a.run_dir, a.n)
    builds = build_samples(samples, out / "builds.jsonl", a.trials, 0, True, a.workers, progress=True)
    items = [
        (f"{s['sample_id']}/{t}", st)
        for s, trials in zip(samples, builds, strict=True)
        for t, (st, _) in enumerate(trials)
        if st is not None
    ]
    return samples, items


def kept_differences(best: dict[str, dict], reference: dict[str, dict]) -> list[float]:
    """Per sample (`wylib.relax.best_trials` of both runs), kept trial's energy minus the reference's, eV/atom,
    over the samples whose kept trial is usable in both."""
    return [
        b["energy_per_atom"] - reference[s]["energy_per_atom"]
        for s, b in best.items()
        if usable(b) and s in reference and usable(reference[s])
    ]


def trial_differences(records: list[dict], reference: list[dict]) -> list[float]:
    """Per trial (relax records of the same trials), energy minus the reference's, eV/atom, where both are usable."""
    by_id = {r["id"]: r for r in reference}
    return [
        r["energy_per_atom"] - by_id[r["id"]]["energy_per_atom"]
        for r in records
        if usable(r) and usable(by_id[r["id"]])
    ]


def save_result(res: dict, path: Path) -> dict:
    """`res` stamped with the date (its last key), written to `path` as JSON and printed; returned."""
    res["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    path.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return res
