"""Official training recipe vs ours on the same data, in one process.

Both trainers are created on the same data and advanced round by round, always the
one with less training wall time first, so both see the same machine load (the
machine is shared). Training time excludes validation (both validate the same
way). Reports: best validation NLL of the official recipe within its budget, the
training time each objective needs to first reach it, their ratio, both final
validation/test NLLs (Table 2 convention), and the process peak RSS.

    nohup nice -n 10 .venv/bin/python -m bench.bench_training > output/bench_training.log 2>&1 &

Resumable: rerun the same command after a kill (both runs resume from checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from bench.common import paper_size_config
from wylib.data import load_encoded
from wylib.symmetry import spacegroup_features
from wylib.train import TrainConfig, Trainer


def first_time_reaching(history: list[dict], target: float, clock: str) -> float | None:
    """Training time (clock 'wall_s' or 'cpu_s') of the first validation with val_nll <= target."""
    for h in history:
        if h["val_nll"] <= target + 1e-9:
            return float(h[clock])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--out", default="output/bench_training")
    ap.add_argument("--official-budget-min", type=float, default=30.0)
    ap.add_argument("--official-val-every", type=int, default=50)
    ap.add_argument("--ours-max-epochs", type=int, default=30)
    ap.add_argument("--ours-budget-min", type=float, default=45.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-n-perm", type=int, default=3)
    ap.add_argument("--max-structures", type=int, default=None)
    ap.add_argument("--results-md", default="bench/RESULTS.md", help="section written here at the end ('' to skip)")
    a = ap.parse_args()
    t_start = time.perf_counter()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tr, vocab = load_encoded(a.dataset, "train", max_structures=a.max_structures)
    va, _ = load_encoded(a.dataset, "val", vocab=vocab, max_structures=a.max_structures)
    te, _ = load_encoded(a.dataset, "test", vocab=vocab, max_structures=a.max_structures)
    feats = spacegroup_features()
    mcfg = paper_size_config(vocab, feats)
    common = dict(seed=a.seed, num_threads=a.threads, test_n_perm=a.test_n_perm, max_sites=vocab.max_sites)
    cfgs = {
        "official": TrainConfig.official(
            val_every=a.official_val_every, time_budget_s=a.official_budget_min * 60, **common
        ),
        "ours": TrainConfig(max_epochs=a.ours_max_epochs, patience=6, time_budget_s=a.ours_budget_min * 60, **common),
    }
    extra = {"dataset": a.dataset, "max_structures": a.max_structures}
    trainers = {k: Trainer(mcfg, c, tr, va, out / k, feats, vocab, extra, progress=False) for k, c in cfgs.items()}
    while True:
        active = [k for k, t in trainers.items() if not t.stop]
        if not active:
            break
        trainers[min(active, key=lambda k: trainers[k].st.elapsed_s)].round()
    metrics = {k: t.finish(te) for k, t in trainers.items()}
    off_hist, our_hist = trainers["official"].st.history, trainers["ours"].st.history
    target = min(h["val_nll"] for h in off_hist)
    res: dict = {
        "host": os.uname().nodename,
        "nproc": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "bench/bench_training.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()),
        "n_params": metrics["ours"]["n_params"],
        "n_train": len(tr.n_sites),
        "n_val": len(va.n_sites),
        "n_test": len(te.n_sites),
        "official_best_val_nll": target,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bench_wall_s": time.perf_counter() - t_start,
        "out": str(out),
    }
    for clock in ("wall_s", "cpu_s"):
        t_off = first_time_reaching(off_hist, target, clock)
        t_our = first_time_reaching(our_hist, target, clock)
        res[f"official_time_to_best_{clock}"] = t_off
        res[f"ours_time_to_official_best_{clock}"] = t_our
        res[f"speedup_{clock}"] = (t_off / t_our) if t_our else None
        res[f"official_budget_used_{clock}"] = float(off_hist[-1][clock])
    for k, m in metrics.items():
        res[k] = {
            "stop_reason": m["stop_reason"],
            "best_val_nll": m["best_val_nll"],
            "steps": m["steps"],
            "train_wall_s": m["train_wall_s"],
            "train_cpu_s": m["train_cpu_s"],
            "val": m["val"],
            "test": m["test"],
        }
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    if a.results_md:
        write_section(Path(a.results_md), res)


START, END = "<!-- bench_training:start -->", "<!-- bench_training:end -->"


def write_section(path: Path, r: dict) -> None:
    """Replace (or append) this benchmark's section of bench/RESULTS.md, between its markers."""

    def f(x: float | None, d: int = 1) -> str:
        return "n/a" if x is None else f"{x:.{d}f}"

    def times(x: dict) -> str:
        return f"{f(x['train_wall_s'] / 60)} / {f(x['train_cpu_s'] / 60)}"

    def nll(x: dict) -> str:
        parts = " / ".join(f(x[k], 2) for k in ("nll_element", "nll_site_symmetry", "nll_enumeration"))
        return f"{f(x['nll'], 2)} ({parts})"

    def to_best(clock: str) -> tuple[str, str]:
        """Minutes the official recipe took to its best val NLL and ours to reach it (or 'not reached')."""
        ours = r[f"ours_time_to_official_best_{clock}_s"]
        return f((r[f"official_time_to_best_{clock}_s"] or 0) / 60), f(ours / 60) if ours else "not reached"

    o, u = r["official"], r["ours"]
    (wall_o, wall_u), (cpu_o, cpu_u) = to_best("wall"), to_best("cpu")
    text = f"""{START}
## Training: official recipe vs ours (bench/bench_training.py)

Machine `{r["host"]}`, nproc {r["nproc"]}, {r["date"]}, shared machine (other jobs running), CPU, torch threads per
trainer as in the command. Command: `{r["command"]}`. Data: {r["n_train"]} train / {r["n_val"]} val /
{r["n_test"]} test structures; model {r["n_params"]} parameters. Both trainers run in one process, rounds interleaved
(the one with less training time goes next), so they see the same load; training time excludes validation.
NLL: nats per structure, Table 2 convention (sum over positions and cascade fields), validation with 2 fixed
permutations x representations, final val/test with the number of permutations stated below.

| | official recipe | ours |
| --- | --- | --- |
| stop reason | {o["stop_reason"]} | {u["stop_reason"]} |
| steps | {o["steps"]} | {u["steps"]} |
| training wall / CPU time (min) | {times(o)} | {times(u)} |
| best validation NLL | {f(o["best_val_nll"], 2)} | {f(u["best_val_nll"], 2)} |
| final val NLL (element / site sym. / enum.) | {nll(o["val"])} | {nll(u["val"])} |
| test NLL, {u["test"]["n_perm"]} permutations (element / site sym. / enum.) | {nll(o["test"])} | {nll(u["test"])} |
| time to the official's best val NLL ({f(r["official_best_val_nll"], 2)}), wall min | {wall_o} | {wall_u} |
| same, CPU min | {cpu_o} | {cpu_u} |

Speed-up (official time to its best / ours time to reach it): wall {f(r["speedup_wall_s"])}x,
CPU {f(r["speedup_cpu_s"])}x. Process peak RSS {f(r["peak_rss_mb"], 0)} MB; whole benchmark
{f(r["bench_wall_s"] / 60)} min wall. Raw numbers:
`{Path(r.get("out", "output/bench_training"))}/bench.json`, learning curves in `*/history.csv`.
{END}"""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if START in old and END in old:
        new = old[: old.index(START)] + text + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


if __name__ == "__main__":
    main()
