"""Benchmark: FIRE (the paper's optimizer) against other ASE optimizers in the paper protocol's relaxations.

Could another optimizer reach the same minima in fewer CHGNet calls (issue 12's 3x)? Same run, same trials
(the first `--n` valid samples of the committed model x `--trials` pyXtal trials, as `bench/bench_relax.py`
builds them), the paper protocol (fmax 0.05 eV/A, `--steps` per phase, positions then cell, FixSymmetry) in
one `BatchRelaxer` process (1 thread, batch of 32), once per optimizer; only the optimizer object of each
phase changes (`wylib.relax._FIRE` swapped for the same gradient-reusing subclass of the candidate; "A+B" runs
A in the positions phase and B in the cell phase).
Reports wall time, CHGNet steps, flags, and against FIRE: the samples whose kept (lowest) trial is within
10 meV/atom, and the trials within 10 meV/atom.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.protocol.bench_optimizers --n 12
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import time
from pathlib import Path

# first import beyond the standard library: limits BLAS/OpenMP to 1 thread before numpy and torch load
from bench.trials import kept_differences, save_result, trial_arguments, trial_differences, trial_items

# isort: split
import wylib.relax

RELAXER_FIRE = wylib.relax._FIRE  # the relaxer's own FIRE, which `main` swaps out while a candidate runs


def optimizer_class(name: str):
    """The relaxer's phase optimizer for `name`: FIRE is the relaxer's own (`RELAXER_FIRE`, also while `main` has
    swapped it out); the others get the same gradient reuse (the convergence test's gradient is the step's)."""
    import ase.optimize

    if name == "FIRE":
        return RELAXER_FIRE
    base = getattr(ase.optimize, name)

    class Reusing(base):
        gradient = None

        def _get_gradient(self, forces=None):
            gradient, self.gradient = self.gradient, None
            return gradient if gradient is not None and forces is None else super()._get_gradient(forces)

    return type(f"_{name}", (Reusing,), {})


def phase_optimizers(name: str):
    """`name` as the relaxer's optimizer factory: one optimizer ("BFGS") for both phases, or "A+B": A for the
    positions phase, B for the cell phase (the target of the cell phase is a `FrechetCellFilter`)."""
    if "+" not in name:
        return optimizer_class(name)
    from ase.filters import FrechetCellFilter

    positions, cell = (optimizer_class(n) for n in name.split("+"))

    def make(target, **kwargs):
        return (cell if isinstance(target, FrechetCellFilter) else positions)(target, **kwargs)

    return make


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trial_arguments(ap, n=12)
    ap.add_argument(
        "--optimizers",
        nargs="+",
        default=["FIRE", "FIRE2", "LBFGS"],
        help='names in ase.optimize, or "A+B" '
        "for A in the positions phase and B in the cell phase; FIRE must be among them (the reference)",
    )
    ap.add_argument("--out", default="output/bench_optimizers")
    a = ap.parse_args()

    import numpy as np

    import wylib.relax as relax
    from wylib.chgnet import load_model

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    samples, items = trial_items(a, out)
    model = load_model(1)
    cfg = relax.RelaxConfig(steps=a.steps)
    runs: dict[str, dict] = {}
    records: dict[str, list[dict]] = {}
    try:
        for name in a.optimizers:
            relax._FIRE = phase_optimizers(name)
            t0 = time.perf_counter()
            recs = [r.to_dict() for r in relax.BatchRelaxer(cfg, model=model).relax(items)]
            wall = time.perf_counter() - t0
            records[name] = recs
            with (out / f"{name}.jsonl").open("w") as fh:
                fh.writelines(
                    json.dumps({k: r[k] for k in ("id", "flag", "energy_per_atom", "n_steps")}) + "\n" for r in recs
                )
            runs[name] = dict(
                wall_s=round(wall, 1),
                chgnet_steps_per_trial=round(float(np.mean([sum(r["n_steps"]) for r in recs])), 1),
                flags=dict(collections.Counter(r["flag"] for r in recs)),
            )
            print(name, runs[name], flush=True)
    finally:
        relax._FIRE = RELAXER_FIRE
    ref_best = relax.best_trials(records["FIRE"])
    for name, recs in records.items():
        kept = [1000 * d for d in kept_differences(relax.best_trials(recs), ref_best)]  # meV/atom
        trials = [1000 * abs(d) for d in trial_differences(recs, records["FIRE"])]
        runs[name].update(
            wall_ratio_fire_over_this=round(runs["FIRE"]["wall_s"] / runs[name]["wall_s"], 2),
            samples_kept_within_10meV=f"{sum(abs(d) <= 10 for d in kept)}/{len(kept)}",
            samples_kept_higher_by_over_10meV=sum(d > 10 for d in kept),
            trials_within_10meV=f"{sum(d <= 10 for d in trials)}/{len(trials)}",
        )
    res = dict(
        runs=runs,
        samples=len(samples),
        trials=len(items),
        steps_cap=a.steps,
        host=platform.node(),
        nproc=os.cpu_count(),
    )
    return save_result(res, out / "optimizers.json")


if __name__ == "__main__":
    main()
