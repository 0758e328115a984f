"""The trials the relax benchmarks share: the first `--n` valid samples of a run x `--trials` pyXtal trials.

`bench.bench_relax`, `bench.bench_assembly`, `bench.bench_relax_memory` and `studies.protocol.bench_optimizers`
relax the same trials (same samples as the `paper` profile draws them, same build seeds as notebook 04).
Importing this module limits BLAS/OpenMP to 1 thread before numpy and torch load (the relax workers' setting),
so it is the first import beyond the standard library in those scripts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy and torch load

from wylib.generated import build_samples, model_samples  # noqa: E402


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
