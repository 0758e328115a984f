"""Benchmark: what the companion graph of `wylib.chgnet.predict(..., companion=True)` fixes and costs on CPU.

The first `--n` structures of the bi/ternary test split: how many get values (energy, forces, stress) that are
not bit for bit their values in a full batch when evaluated alone, and when last in a pair, without and with
the companion; then the time of one energy-forces-stress call of `--batch` structures without and with it
(alternated, median of `--repeats`), i.e. the companion's cost per call. With `--builds FILE --trials K`
it also relaxes the first K pyXtal trials of a `builds.jsonl` (paper protocol, `relax_to_jsonl`) once in one
process and once with a pool of 2 workers (different batches, formed by timing) and counts the records that
are not bit for bit the same; before that it times the same trials relaxed in one process without and with the
companion (alternated twice), i.e. its cost on whole relaxations. `--companions 1 2 3 4` also counts the structures
whose values alone with K companion graphs differ from the full batch (what `wylib.chgnet.MIN_GRAPHS` rests on).

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m bench.bench_companion --n 300 \
        --builds output/bench_relax/builds.jsonl --trials 48
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy and torch load, as in the relax workers


import numpy as np


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--companions", type=int, nargs="*", default=[], help="also: each structure alone with K companion graphs"
    )
    ap.add_argument("--builds", default=None)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--out", default="output/bench_companion")
    a = ap.parse_args()

    import wylib.chgnet as chg
    from wylib.data import load_split, parse_cif
    from wylib.machine import machine_info

    model = chg.load_model(1)
    structures = [parse_cif(c) for c in load_split("mp_20_biternary_open", "test").cif[: a.n]]
    full = chg.predict(model, structures, batch_size=30)

    def same(x, y):
        return all(np.array_equal(x[k], y[k]) for k in "efs")

    res: dict = dict(machine=machine_info(), date=datetime.datetime.now().isoformat(timespec="seconds"), n=a.n)
    for companion in (False, True):
        alone = [chg.predict(model, [s], companion=companion)[0] for s in structures]
        last = [chg.predict(model, [structures[i - 1], s], companion=companion)[1] for i, s in enumerate(structures)]
        res[f"companion={companion}"] = dict(
            alone_differ=sum(not same(x, y) for x, y in zip(alone, full, strict=True)),
            last_of_pair_differ=sum(not same(x, y) for x, y in zip(last, full, strict=True)),
        )
    if a.companions:  # how many graphs a call needs (wylib.chgnet.MIN_GRAPHS)
        comp, own = chg.companion_graph(model), [model.graph_converter(s) for s in structures]
        res["alone_with_k_companions_differ"] = {
            k: sum(not same(chg.predict_efs(model, [g, *[comp] * k])[0], y) for g, y in zip(own, full, strict=True))
            for k in a.companions
        }
    graphs = [model.graph_converter(s) for s in structures[: a.batch]]
    pad = [*graphs, chg.companion_graph(model)]
    times: dict[bool, list[float]] = {False: [], True: []}
    chg.predict_efs(model, pad)  # warm-up
    for _ in range(a.repeats):
        for companion, call in ((False, graphs), (True, pad)):
            t = time.perf_counter()
            chg.predict_efs(model, call)
            times[companion].append(time.perf_counter() - t)
    plain, padded = statistics.median(times[False]), statistics.median(times[True])
    res.update(
        batch=a.batch, call_s=round(plain, 4), call_with_companion_s=round(padded, 4), cost=round(padded / plain, 3)
    )
    if a.builds:
        res["pool"] = pool_check(model, a.builds, a.trials, Path(a.out))
    print(json.dumps(res, indent=1))
    return res


def pool_check(model, builds: str, n: int, out: Path) -> dict:
    """The first `n` trials of `builds` relaxed in one process and with 2 pool workers: records that differ."""
    from pymatgen.core import Structure

    from wylib.relax import RelaxConfig, read_jsonl, relax_to_jsonl

    items = []
    for rec in read_jsonl(builds):
        items += [(f"{rec['sample_id']}/{t}", Structure.from_dict(st)) for t, (st, _) in enumerate(rec["trials"]) if st]
    items = items[:n]
    out.mkdir(parents=True, exist_ok=True)
    runs: dict = {}
    times: dict[bool, list[float]] = {}
    from wylib.relax import BatchRelaxer

    for companion in (False, True, False, True):  # alternated: the cost of whole relaxations, one process
        t = time.perf_counter()
        BatchRelaxer(RelaxConfig(), model=model, companion=companion).relax(items)
        times.setdefault(companion, []).append(time.perf_counter() - t)
    for workers in (1, 2):
        path = out / f"workers{workers}.jsonl"
        path.unlink(missing_ok=True)
        t = time.perf_counter()
        relax_to_jsonl(items, path, RelaxConfig(), n_workers=workers, threads=1, progress=False)
        runs[workers] = ({r["id"]: r for r in read_jsonl(path)}, time.perf_counter() - t)
    one, two = runs[1][0], runs[2][0]
    return dict(
        trials=len(items),
        relax_s={str(k): [round(x, 1) for x in v] for k, v in times.items()},
        relax_cost=round(sum(times[True]) / sum(times[False]), 3),
        wall_s={w: round(t, 1) for w, (_, t) in runs.items()},
        records_differ=sum(one[k] != two.get(k) for k in one),
    )


if __name__ == "__main__":
    main()
