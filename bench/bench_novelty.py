"""Novelty of 200 structures against train+val (~7k): serial vs 2 worker processes.

Candidates: 150 random test-split structures (mostly novel) + 50 random training
structures rattled by 0.03 Angstrom (must come out not novel), seeded.
Baseline = `novelty_mask(n_jobs=1)`, candidate = `novelty_mask(n_jobs=2)`, same process.

    WYLIB_DATA_DIR=../shared/data python -m bench.bench_novelty [--n-test 150 --n-train 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np

from wylib.data import load_split, parse_structures
from wylib.metrics import novelty_mask


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-test", type=int, default=150)
    p.add_argument("--n-train", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    ref_df = [load_split("mp_20_biternary_open", s) for s in ("train", "val")]
    ref, fail = parse_structures([c for df in ref_df for c in df["cif"]], n_jobs=2)
    t_parse = time.perf_counter() - t0
    test = load_split("mp_20_biternary_open", "test")
    test_s, _ = parse_structures(test["cif"].iloc[rng.choice(len(test), a.n_test, replace=False)].tolist(), n_jobs=1)
    rattled = []
    for j in rng.choice(len(ref), a.n_train, replace=False):
        s = ref[j].copy()
        for i in range(len(s)):
            s.translate_sites([i], rng.normal(0, 0.03, 3), frac_coords=False)
        rattled.append(s)
    cands = test_s + rattled
    t1 = time.perf_counter()
    base = novelty_mask(cands, ref, n_jobs=1)
    t_base = time.perf_counter() - t1
    t2 = time.perf_counter()
    cand = novelty_mask(cands, ref, n_jobs=2)
    t_cand = time.perf_counter() - t2
    assert (base == cand).all(), "parallel result differs from serial"
    print(f"host {platform.node()} nproc {os.cpu_count()} load {os.getloadavg()[0]:.1f}")
    print(f"references {len(ref)} (parse failures {len(fail)}), parse {t_parse:.1f} s; candidates {len(cands)}")
    print(
        f"novel: test-split candidates {base[: a.n_test].mean():.3f}, rattled training copies "
        f"{base[a.n_test :].mean():.3f} (expected 0)"
    )
    print(f"baseline n_jobs=1: {t_base:.1f} s; candidate n_jobs=2: {t_cand:.1f} s; ratio {t_base / t_cand:.2f}x")
    print(
        f"peak RSS: main {_maxrss_mb(resource.RUSAGE_SELF):.0f} MB, "
        f"largest worker {_maxrss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
    )


if __name__ == "__main__":
    main()
