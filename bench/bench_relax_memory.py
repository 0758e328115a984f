"""Benchmark: a relax worker's memory with and without the cap on graph edges per CHGNet call.

Same run, same trials (the first `--n` valid samples of the committed model x `--trials` pyXtal trials, as
`bench/bench_relax.py` builds them), the paper protocol through `relax_to_jsonl`'s pool (`--workers`
processes, 1 thread each), once per `--caps` value of `RelaxConfig.max_edges` (0: no cap, the CPU default
before the cap existed), in turn. For each: wall time, peak RSS and PSS of the whole process tree (sampled
every 0.2 s), FIRE steps, and how many samples keep a lowest trial within 10 meV/atom of the uncapped run's
(of the first cap's when 0 is not among the caps). Ratios are uncapped (or first) wall time over this one.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m bench.bench_relax_memory --n 32 --caps 10000 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

# first import beyond the standard library: limits BLAS/OpenMP to 1 thread before numpy and torch load
from bench.trials import kept_differences, save_result, trial_arguments, trial_items


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trial_arguments(ap, n=32)
    ap.add_argument("--caps", type=int, nargs="+", default=[0, 10_000])
    ap.add_argument("--out", default="output/bench_relax_memory")
    a = ap.parse_args()

    from wylib.memory import PeakRSS
    from wylib.relax import RelaxConfig, best_trials, relax_to_jsonl

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    samples, items = trial_items(a, out)
    res: dict = dict(samples=len(samples), trials=len(items), host=platform.node(), nproc=os.cpu_count(), runs=[])
    best = {}
    for cap in a.caps:
        path = out / f"cap_{cap}.jsonl"
        path.unlink(missing_ok=True)
        cfg = RelaxConfig(steps=a.steps, max_edges=cap)
        with PeakRSS(children=True, interval=0.2, pss=True) as mem:
            t0 = time.perf_counter()
            records = relax_to_jsonl(items, path, cfg, n_workers=a.workers, threads=1, progress=False)
            wall = time.perf_counter() - t0
        best[cap] = best_trials(records)
        row = dict(
            max_edges=cap,
            wall_s=round(wall, 1),
            peak_rss_MiB=round(mem.peak / 2**20),
            peak_pss_MiB=round(mem.peak_pss / 2**20),
            fire_steps=sum(sum(r["n_steps"]) for r in records),
        )
        res["runs"].append(row)
        print(json.dumps(row), flush=True)
    ref_cap = 0 if 0 in a.caps else a.caps[0]
    ref, ref_wall = best[ref_cap], next(r["wall_s"] for r in res["runs"] if r["max_edges"] == ref_cap)
    for row in res["runs"]:
        agree = [abs(d) <= 0.010 for d in kept_differences(best[row["max_edges"]], ref)]
        row[f"kept_trial_within_10meV_of_cap_{ref_cap}"] = f"{sum(agree)}/{len(agree)}"
        row[f"wall_ratio_cap_{ref_cap}_over_this"] = round(ref_wall / row["wall_s"], 2)
    return save_result(res, out / "memory.json")


if __name__ == "__main__":
    main()
