"""Where a relax worker's time goes, and what CHGNet's backward pass costs.

(1) `cProfile` of one `BatchRelaxer` run (1 torch thread, BLAS limited to 1 thread as the pool workers
are) over the first pyXtal trials of a `builds.jsonl` (`wylib.generated.build_samples`), paper protocol with
a step cap; prints the shares of the CHGNet call, the cell filter, FIRE and FixSymmetry.
(2) `wylib.chgnet.predict_efs` on 32 of those structures with CHGNet's `create_graph=True` (bitwise CHGNet)
against `create_graph=False`, same process, alternated; prints the ratio and the largest force difference.
(3) `torch.profiler` of one such call: the share of its operator time in matrix products, in
scatter/index operations and in the rest, i.e. whether the call is bound by arithmetic or by overhead.
(4) the same call under bfloat16 autocast (matrix products in bfloat16, where the CPU has it) against
float32: the ratio and the largest energy and force differences, i.e. what lower precision would buy.

    .venv/bin/python -m bench.profile_relax output/trial_effect/all/builds.jsonl --trials 24 --steps 60
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy and torch load, as in the pool workers

import argparse
import cProfile
import datetime
import json
import platform
import pstats
import time

import numpy as np
import torch
from pymatgen.core import Structure

import wylib.chgnet as chg
from wylib.relax import BatchRelaxer, RelaxConfig, read_jsonl

PARTS = {  # label: function names whose cumulative time is that part
    "CHGNet call (wylib.chgnet.evaluate)": ("evaluate",),
    "cell filter (FrechetCellFilter get_forces/get_positions/set_positions)": (
        "get_forces_frechet",
        "get_positions_frechet",
        "set_positions_frechet",
    ),
    "FIRE step": ("step",),
    "FixSymmetry set-up": ("__init__",),
}
FILES = {"evaluate": "chgnet.py", "step": "fire.py", "__init__": "fix_symmetry.py"}


def trials(path: str, n: int) -> list[tuple[str, Structure]]:
    out = []
    for rec in read_jsonl(path):
        for t, (st, _) in enumerate(rec["trials"]):
            if st is not None and len(out) < n:
                out.append((f"{rec['sample_id']}/{t}", Structure.from_dict(st)))
    return out


def cumulative(stats: pstats.Stats, name: str) -> float:
    """Cumulative seconds of the functions called `name` (a builtin method: its name appears in the label)."""
    return sum(
        v[3]
        for (file, _, func), v in stats.stats.items()
        if (func == name and (name not in FILES or file.endswith(FILES[name]))) or (file == "~" and f"'{name}'" in func)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("builds")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')} {platform.node()} {vars(a)}", flush=True)
    items = trials(a.builds, a.trials)
    model = chg.load_model(1)
    relaxer = BatchRelaxer(RelaxConfig(steps=a.steps), model=model)
    relaxer.relax(items[:2])  # warm-up
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    res = relaxer.relax(items)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    total = cumulative(stats, "relax")
    print(f"{len(items)} trials, {sum(sum(r.n_steps) for r in res)} FIRE steps, {wall:.1f} s wall")
    for label, names in PARTS.items():
        sec = sum(cumulative(stats, n) for n in names)
        print(f"  {label}: {sec:.1f} s ({100 * sec / total:.0f} %)")  # parts overlap: FIRE moves the filter
    print(f"  of the CHGNet call, autograd backward: {cumulative(stats, 'run_backward'):.1f} s")

    structures = [s for _, s in items][:32]
    graphs = [model.graph_converter(s) for s in structures]
    real_grad = torch.autograd.grad

    def timed(create_graph: bool) -> tuple[float, list[dict]]:
        def grad(*args, **kwargs):
            return real_grad(*args, **{**kwargs, "create_graph": create_graph})

        torch.autograd.grad = grad
        try:
            t = time.perf_counter()
            for _ in range(a.repeats):
                out = chg.predict_efs(model, graphs)
            return (time.perf_counter() - t) / a.repeats, out
        finally:
            torch.autograd.grad = real_grad

    timed(True)  # warm-up
    for _ in range(2):
        t_on, on = timed(True)
        t_off, off = timed(False)
        print(f"predict_efs, {len(graphs)} structures: create_graph=True {t_on:.3f} s, False {t_off:.3f} s, "
              f"ratio {t_on / t_off:.2f}")  # fmt: skip
    df = max(float(np.abs(x["f"] - y["f"]).max()) for x, y in zip(on, off, strict=True))
    print(f"largest force difference create_graph True vs False: {df:.2e} eV/A")
    for group, share in op_shares(model, graphs).items():
        print(f"  of one predict_efs call's operator time: {group} {100 * share:.0f} %")
    t32 = min(_seconds(lambda: chg.predict_efs(model, graphs), a.repeats) for _ in range(2))
    model._compute = _bfloat16(model._compute)
    t16 = min(_seconds(lambda: chg.predict_efs(model, graphs), a.repeats) for _ in range(2))
    low = chg.predict_efs(model, graphs)
    del model._compute  # the class's own method again
    de = max(abs(float(x["e"]) - float(y["e"])) for x, y in zip(on, low, strict=True))
    df = max(float(np.abs(x["f"] - y["f"]).max()) for x, y in zip(on, low, strict=True))
    print(f"predict_efs float32 {t32:.3f} s, bfloat16 autocast {t16:.3f} s, ratio {t32 / t16:.2f}; "
          f"largest differences {1000 * de:.1f} meV/atom, {df:.3f} eV/A")  # fmt: skip
    print(json.dumps({"host": platform.node(), "nproc": os.cpu_count()}))


def _bfloat16(compute):
    """CHGNet's `_compute` under bfloat16 autocast, its floating outputs cast back to float32."""

    def low(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = compute(*args, **kwargs)
        return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()}

    return low


def _seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")
SCATTER_OPS = ("aten::scatter_add_", "aten::index_add_", "aten::index_select", "aten::index", "aten::_index_put_impl_")


def op_shares(model, graphs) -> dict[str, float]:
    """Shares of one `predict_efs` call's self CPU time: matrix products, scatter/index operations, the rest."""
    from torch.profiler import ProfilerActivity, profile

    chg.predict_efs(model, graphs)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        chg.predict_efs(model, graphs)
    times = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(times.values())
    matmul = sum(v for k, v in times.items() if k in MATMUL_OPS)
    scatter = sum(v for k, v in times.items() if k in SCATTER_OPS)
    return {"matrix products": matmul / total, "scatter/index": scatter / total, "rest": 1 - (matmul + scatter) / total}


if __name__ == "__main__":
    main()
