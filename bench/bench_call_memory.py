"""Benchmark: memory of one CHGNet energy-forces-stress call against the size of its graphs (bonds + angles).

Takes the first `--n` pyXtal trials of a `builds.jsonl` (notebook 04 or `studies/protocol/trial_effect.py`), sorts their
graphs largest first (by angles) and, in a fresh process per batch size, evaluates them `--batch-sizes` at a time
(`wylib.chgnet.predict_efs`, one torch thread), reading the process's peak RSS after each call. Reports the base
RSS (model loaded, graphs built), the peak, the edges of the largest call and the memory per edge. With `--relax`,
also the distribution of graph edges over the final structures of a `relax.jsonl`.

    .venv/bin/python -m bench.bench_call_memory --builds output/paper/generated/builds.jsonl \
        --relax output/paper/generated/relax.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def child(builds: str, n: int, batch_size: int) -> dict:
    """One batch size in this (fresh) process: base and peak RSS, edges of the largest call."""
    import torch
    from pymatgen.core import Structure

    from wylib.chgnet import graph_edges, load_model, predict_efs

    torch.set_num_threads(1)
    structures = []
    with open(builds) as fh:
        for line in fh:
            for trial in json.loads(line)["trials"]:
                if isinstance(trial, list) and trial[0]:
                    structures.append(Structure.from_dict(trial[0]))
            if len(structures) >= 2 * n:
                break
    model = load_model(1, "cpu")
    graphs = [model.graph_converter(s) for s in structures]
    graphs.sort(key=lambda g: -(g.bond_graph.shape[0] if g.bond_graph is not None else 0))
    graphs = graphs[:n]
    base = _peak_mib()
    calls = [graphs[lo : lo + batch_size] for lo in range(0, len(graphs), batch_size)]
    for gs in calls:
        predict_efs(model, gs)
    edges = max(sum(graph_edges(g) for g in gs) for gs in calls)
    peak = _peak_mib()
    return dict(
        batch_size=batch_size,
        base_MiB=round(base),
        peak_MiB=round(peak),
        largest_call_edges=edges,
        kB_per_edge=round((peak - base) * 1024 / edges, 1),
    )


def final_edges(relax: str) -> dict:
    """Graph edges of the final structures of a relax.jsonl (median, 90th, 99th percentile, largest)."""
    import numpy as np
    from pymatgen.core import Structure

    from wylib.chgnet import graph_edges, load_model

    model = load_model(1, "cpu")
    edges = []
    with open(relax) as fh:
        for line in fh:
            rec = json.loads(line)
            if isinstance(rec.get("structure"), dict):
                try:
                    edges.append(graph_edges(model.graph_converter(Structure.from_dict(rec["structure"]))))
                except Exception:  # isolated atoms: no graph
                    continue
    q = np.percentile(edges, [50, 90, 99])
    return dict(structures=len(edges), median=int(q[0]), p90=int(q[1]), p99=int(q[2]), largest=int(max(edges)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", default="output/paper/generated/builds.jsonl")
    ap.add_argument("--relax", default=None)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 16, 8])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        print(json.dumps(child(a.builds, a.n, a.child)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for b in a.batch_sizes:
        cmd = [sys.executable, __file__, "--builds", a.builds, "--n", str(a.n), "--child", str(b)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    res = dict(host=platform.node(), date=datetime.datetime.now().isoformat(timespec="seconds"), calls=rows)
    if a.relax:
        res["final_structure_edges"] = final_edges(a.relax)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
