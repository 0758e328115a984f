"""Benchmark: batched CHGNet relaxation (wylib.relax) vs CHGNet's StructOptimizer.

Same run, same initial structures (pyXtal-built from Wyckoff args of the
mp_20_biternary_open test split, fixed seeds, primitive cells), same fmax, step cap,
FIRE and FrechetCellFilter, one phase (cell + positions), no symmetry constraint.
Baseline: `StructOptimizer.relax`, one structure at a time, `--threads` torch threads.
Candidates: (1) one `BatchRelaxer` call over all structures in this process, same
threads (cost per core); (2) `relax_to_jsonl` with its process pool of `--workers`
workers, 1 thread each (the whole machine, as notebook 04 runs it).
Reports throughput (wall and CPU time), final-energy agreement and peak RSS per part.
BLAS/OpenMP pools are limited to `--threads` before numpy loads: otherwise idle BLAS
threads spin and double the CPU time without doing work.

    WYLIB_DATA_DIR=../shared/data nohup .venv/bin/python -m bench.bench_relax --n 32 --threads 1 --workers 2 \
        --out output/bench_relax > output/bench_relax.log 2>&1 &
"""

from __future__ import annotations

import os
import sys

_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)  # before numpy and torch load

import argparse
import datetime
import json
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure

from wylib.build import build_structure, count_failures
from wylib.chgnet import load_model
from wylib.memory import PeakRSS
from wylib.relax import BatchRelaxer, RelaxConfig, read_jsonl, relax_to_jsonl
from wylib.tokens import WyckoffRepresentation


def cpu_time(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def initial_structures(n: int, n_build: int, seed: int) -> tuple[list[tuple[str, Structure]], dict]:
    """First `n` buildable samples of a seeded shuffle of the test split; build statistics
    (3 trials per sample) on the first `n_build` samples."""
    path = Path(os.environ["WYLIB_DATA_DIR"]) / "mp_20_biternary_open" / "test.csv.gz"
    df = pd.read_csv(path).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    items, trials_all = [], []
    for i, row in df.iterrows():
        if len(items) >= n and i >= n_build:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                args = WyckoffRepresentation.from_structure(Structure.from_str(row.cif, fmt="cif")).to_pyxtal_args()
        except Exception:
            continue  # not a valid sample: tokenization failed
        trials = build_structure(args, n_trials=3 if i < n_build else 1, seed=seed + i, primitive=True)
        if i < n_build:
            trials_all.append(trials)
        if len(items) < n and trials[0][0] is not None:
            items.append((row.material_id, trials[0][0]))
    return items, count_failures(trials_all)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--n-build", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fmax", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="process-pool candidate; 0 skips it")
    ap.add_argument("--out", default="output/bench_relax")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{datetime.datetime.now().isoformat(timespec='seconds')} {platform.node()} nproc={os.cpu_count()} "
        f"torch threads={a.threads} args={vars(a)}",
        flush=True,
    )

    t = time.time()
    items, build = initial_structures(a.n, a.n_build, a.seed)
    print(f"built {len(items)} structures in {time.time() - t:.0f}s; atoms: {[len(s) for _, s in items]}", flush=True)
    print("build stats (3 trials/sample):", json.dumps(build), flush=True)

    # candidate: all structures in one batched run
    cfg = RelaxConfig(fmax=a.fmax, steps=a.steps, phases=("cell",), symmetry=False, batch_size=a.batch_size)
    relaxer = BatchRelaxer(cfg, model=load_model(a.threads))
    from chgnet.model import StructOptimizer

    opt = StructOptimizer(model=load_model(a.threads), optimizer_class="FIRE")
    with warnings.catch_warnings():  # warm-up of both paths (first torch calls are slow), not timed
        warnings.simplefilter("ignore")
        BatchRelaxer(RelaxConfig(steps=2, phases=("cell",), symmetry=False), model=relaxer.model).relax(items[:2])
        opt.relax(items[0][1], steps=2, verbose=False)
    with PeakRSS(children=False) as mem_c:
        t0, c0 = time.time(), cpu_time()
        cand = {r.id: r for r in relaxer.relax(items, progress=True)}
        wall_c, cpu_c = time.time() - t0, cpu_time() - c0
    print(
        f"candidate: {len(items)} structures wall {wall_c:.1f}s cpu {cpu_c:.1f}s peak RSS {mem_c.peak_mib:.0f} MiB",
        flush=True,
    )
    (out / "candidate.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in cand.values()))

    # candidate 2: relax_to_jsonl's process pool (spawned workers load CHGNet themselves: timed)
    pool, wall_p, cpu_p, mem_p = {}, None, None, None
    if a.workers:
        pool_path = out / "pool.jsonl"
        pool_path.unlink(missing_ok=True)
        with PeakRSS(children=True) as mem_p:
            t0, c0 = time.time(), cpu_time(resource.RUSAGE_CHILDREN)
            recs = relax_to_jsonl(items, pool_path, cfg, n_workers=a.workers, threads=1, progress=False)
            wall_p, cpu_p = time.time() - t0, cpu_time(resource.RUSAGE_CHILDREN) - c0
        pool = {r["id"]: r for r in recs}
        print(f"pool of {a.workers}: wall {wall_p:.1f}s cpu {cpu_p:.1f}s peak RSS {mem_p.peak_mib:.0f} MiB", flush=True)

    # baseline: CHGNet StructOptimizer, one structure at a time (resumable)
    base_path = out / "baseline.jsonl"
    base = {r["id"]: r for r in read_jsonl(base_path)}
    with PeakRSS(children=False) as mem_b, base_path.open("a") as fh:
        for k, s in items:
            if k in base:
                continue
            t0, c0 = time.time(), cpu_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = opt.relax(s, fmax=a.fmax, steps=a.steps, relax_cell=True, verbose=False)
            traj = res["trajectory"]
            rec = dict(
                id=k,
                energy_per_atom=float(traj.energies[-1]) / len(s),
                n_steps=len(traj.energies) - 2,
                wall=time.time() - t0,
                cpu=cpu_time() - c0,
            )
            base[k] = rec
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(
                f"baseline {len(base)}/{len(items)} {k} {rec['wall']:.1f}s steps {rec['n_steps']} "
                f"dE {1000 * (cand[k].energy_per_atom - rec['energy_per_atom']):+.2f} meV/atom",
                flush=True,
            )
    wall_b = sum(base[k]["wall"] for k, _ in items)
    cpu_b = sum(base[k]["cpu"] for k, _ in items)

    def agreement(energies: dict) -> dict:
        de = np.array(
            [1000 * abs(energies[k] - base[k]["energy_per_atom"]) for k, _ in items if energies[k] is not None]
        )
        return dict(
            within_10meV=f"{int((de <= 10).sum())}/{len(items)}",
            exact=f"{int((de == 0).sum())}/{len(items)}",
            median_abs_dE_meV=round(float(np.median(de)), 4),
            max_abs_dE_meV=round(float(de.max()), 4),
        )

    steps_c = sum(sum(cand[k].n_steps) for k, _ in items)
    steps_b = sum(base[k]["n_steps"] for k, _ in items)
    summary = dict(
        n=len(items),
        fmax=a.fmax,
        steps=a.steps,
        threads=a.threads,
        workers=a.workers,
        wall_baseline_s=round(wall_b, 1),
        cpu_baseline_s=round(cpu_b, 1),
        wall_candidate_s=round(wall_c, 1),
        cpu_candidate_s=round(cpu_c, 1),
        wall_speedup=round(wall_b / wall_c, 2),
        cpu_speedup=round(cpu_b / cpu_c, 2),
        fire_steps_baseline=steps_b,
        fire_steps_candidate=steps_c,
        flags_candidate={f: sum(r.flag == f for r in cand.values()) for f in sorted({r.flag for r in cand.values()})},
        agreement_candidate=agreement({k: r.energy_per_atom for k, r in cand.items()}),
        peak_rss_candidate_MiB=round(mem_c.peak_mib),
        peak_rss_baseline_MiB=round(mem_b.peak_mib),
        build=build,
    )
    if pool:
        summary.update(
            wall_pool_s=round(wall_p, 1),
            cpu_pool_s=round(cpu_p, 1),
            wall_speedup_pool=round(wall_b / wall_p, 2),
            peak_rss_pool_MiB=round(mem_p.peak_mib),
            agreement_pool=agreement({k: r["energy_per_atom"] for k, r in pool.items()}),
        )
    print("SUMMARY", json.dumps(summary), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
