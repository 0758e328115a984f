"""Benchmark: CHGNet's own batch assembly against the batched one (`wylib.chgnet._batched`) in whole relaxations.

Same run, same trials (the first `--n` valid samples of the committed model x `--trials` pyXtal trials, as
`bench/bench_relax.py` builds them), the paper protocol through today's `relax_to_jsonl` pool, once with
`WYLIB_CHGNET_ASSEMBLY=chgnet` (the CPU default, bitwise StructOptimizer) and once with `=batched` (the GPU
default). Reports the wall-time ratio, FIRE steps, and how many samples keep a lowest trial within 10 meV/atom.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m bench.bench_assembly --n 16
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

# first import beyond the standard library: limits BLAS/OpenMP to 1 thread before numpy and torch load
from bench.trials import kept_differences, save_result, trial_arguments, trial_differences, trial_items


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trial_arguments(ap, n=16)
    ap.add_argument("--out", default="output/bench_assembly")
    a = ap.parse_args()

    import wylib.chgnet as chg
    from wylib.relax import RelaxConfig, best_trials, relax_to_jsonl

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    samples, items = trial_items(a, out)
    cfg = RelaxConfig(steps=a.steps)
    res: dict = dict(samples=len(samples), trials=len(items), host=platform.node(), nproc=os.cpu_count())
    records = {}
    for name in ("chgnet", "batched"):
        path = out / f"{name}.jsonl"
        path.unlink(missing_ok=True)
        os.environ[chg.ASSEMBLY_ENV] = name  # inherited by the spawned workers
        t0 = time.perf_counter()
        records[name] = relax_to_jsonl(items, path, cfg, n_workers=a.workers, threads=1, progress=False)
        res[f"{name}_wall_s"] = round(time.perf_counter() - t0, 1)
        res[f"{name}_fire_steps"] = sum(sum(r["n_steps"]) for r in records[name])
        print(f"{name}: {len(items)} trials, {res[f'{name}_wall_s']} s", flush=True)
    os.environ.pop(chg.ASSEMBLY_ENV)
    best = {name: best_trials(recs) for name, recs in records.items()}
    agree = [abs(d) <= 0.010 for d in kept_differences(best["batched"], best["chgnet"])]
    diffs = [abs(d) for d in trial_differences(records["batched"], records["chgnet"])]
    res.update(
        ratio_wall=round(res["chgnet_wall_s"] / res["batched_wall_s"], 2),
        samples_compared=len(agree),
        kept_trial_within_10meV=sum(agree),
        trials_within_10meV=sum(d <= 0.010 for d in diffs),
        trials_compared=len(diffs),
        largest_trial_difference_eV_per_atom=round(max(diffs), 6) if diffs else None,
    )
    return save_result(res, out / "assembly.json")


if __name__ == "__main__":
    main()
