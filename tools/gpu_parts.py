"""Where one CHGNet step of the batched relaxer spends its time, by batch size, on this machine's device.

    .venv/bin/python -m tools.gpu_parts --device auto --sizes 32,128,512

Per structure of the MP-20 bi/ternary test split (repeated to fill the batch): graph construction on the
CPU (`model.graph_converter`, what every relax worker does per structure and FIRE step), then the
energy + forces + stress call (`wylib.chgnet.predict_efs`) with CHGNet's own batch assembly
(`BatchedGraph.from_graphs`, ~40 tensor operations per structure) and with `wylib.chgnet._batched`
(a few dozen for the whole batch), and the largest force difference between the two. Timings are the
median of `--repeats` calls after one warm-up. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def _timed(fn, repeats: int, sync) -> float:
    fn()
    sync()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", default="32,128,512")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    import wylib.chgnet as chg
    from wylib.data import load_split, parse_cif
    from wylib.machine import machine_info

    model = chg.load_model(args.threads, args.device)
    device = next(model.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    structures = [parse_cif(c) for c in load_split("mp_20_biternary_open", "test").cif[:256]]
    t = time.perf_counter()
    graphs = [model.graph_converter(s) for s in structures]
    per_graph_ms = 1000 * (time.perf_counter() - t) / len(graphs)
    rows = [
        dict(
            machine=machine_info(),
            device=str(device),
            graph_ms_per_structure=round(per_graph_ms, 3),
            mean_atoms=round(float(np.mean([len(s) for s in structures])), 2),
        )
    ]
    print(json.dumps(rows[0]), flush=True)
    for size in (int(x) for x in args.sizes.split(",")):
        batch = [graphs[i % len(graphs)] for i in range(size)]
        own = _timed(lambda b=batch: chg.predict_efs(model, b, batched=False), args.repeats, sync)
        fast = _timed(lambda b=batch: chg.predict_efs(model, b, batched=True), args.repeats, sync)
        a, b = chg.predict_efs(model, batch, batched=False), chg.predict_efs(model, batch, batched=True)
        row = dict(
            batch=size,
            chgnet_assembly_s=round(own, 4),
            batched_assembly_s=round(fast, 4),
            ratio=round(own / fast, 2),
            batched_ms_per_structure=round(1000 * fast / size, 3),
            max_force_diff=float(max(np.abs(x["f"] - y["f"]).max() for x, y in zip(a, b, strict=True))),
            max_energy_diff=float(max(abs(float(x["e"]) - float(y["e"])) for x, y in zip(a, b, strict=True))),
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
