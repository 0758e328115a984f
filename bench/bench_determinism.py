"""Does pinning the CPU kernel family make training bit-identical across machines, and what does it cost?

    .venv/bin/python -m bench.bench_determinism --rounds 2        # all variants, each in a fresh process

Trains the committed default (`runs/default/config.json`: model and training settings, seed 0, 1 thread) for
``--rounds`` rounds once per variant of the numeric-kernel environment, each in its own process (the variables must
be set before torch loads):

- ``unpinned``: as the machine is (torch picks its best ATen kernels, MKL its best code path);
- ``mkl_avx2``: ``MKL_CBWR=AVX2`` (MKL's conditional bit-wise reproducibility on the AVX2 code path);
- ``aten_avx2``: ``ATEN_CPU_CAPABILITY=avx2`` (torch's own vectorised kernels on AVX2);
- ``pinned``: both, plus ``ONEDNN_MAX_CPU_ISA=AVX2``; ``pinned_strict``: the same with ``MKL_CBWR=AVX2,STRICT``;
- ``onednn_avx2``: ``ONEDNN_MAX_CPU_ISA=AVX2`` alone; ``mkl_compatible``: ``pinned`` with ``MKL_CBWR=COMPATIBLE``.

Per variant: the train loss and validation NLL of every round, compared value by value with the committed run's
``runs/default/history.csv`` (trained unpinned on another machine) and with the unpinned variant here, and the wall
time per round relative to unpinned. Not a test: record results with machine, date and command in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {
    "unpinned": {},
    "mkl_avx2": {"MKL_CBWR": "AVX2"},
    "aten_avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "pinned": {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "pinned_strict": {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn_avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "mkl_compatible": {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
KEYS = ("train_loss", "val_nll")


def child(rounds: int, out: Path) -> None:
    """Train `rounds` rounds of the committed configuration and write their losses and times to `out`."""
    # imported here: the child process is the one whose kernel variables are set before torch loads
    from dataclasses import replace

    import torch

    from wylib.data import load_encoded
    from wylib.machine import machine_info
    from wylib.model import ModelConfig
    from wylib.symmetry import spacegroup_features
    from wylib.train import TrainConfig, Trainer

    config = json.loads((REPO / "runs" / "default" / "config.json").read_text())
    train, vocab = load_encoded(config["dataset"], "train")
    val, _ = load_encoded(config["dataset"], "val", vocab=vocab)
    with tempfile.TemporaryDirectory() as run_dir:
        tr = Trainer(
            ModelConfig.from_dict(config["model"]),
            replace(TrainConfig(**config["train"]), device="cpu"),
            train,
            val,
            run_dir,
            spacegroup_features(),
            vocab,
            progress=False,
        )
        seconds = []
        for _ in range(rounds):
            t = time.perf_counter()
            tr.round()
            seconds.append(time.perf_counter() - t)
        history = [{k: float(h[k]) for k in KEYS} for h in tr.st.history[:rounds]]
    info = machine_info() | {"mkl": torch.backends.mkl.is_available()}
    out.write_text(json.dumps({"history": history, "seconds": seconds, "machine": info}))


def committed_history(rounds: int) -> list[dict]:
    with open(REPO / "runs" / "default" / "history.csv") as fh:
        return [{k: float(r[k]) for k in KEYS} for r in list(csv.DictReader(fh))[:rounds]]


def max_diff(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in KEYS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--save", help="write every variant's losses, times and machine to this JSON file")
    ap.add_argument("--compare", help="a --save file from another machine: are the same variants bit-identical?")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.rounds, Path(a.json))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.variants:
            path = Path(tmp) / f"{name}.json"
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
            }
            cmd = [sys.executable, "-m", "bench.bench_determinism", "--rounds", str(a.rounds)]
            subprocess.run([*cmd, "--child", name, "--json", str(path)], env=env | VARIANTS[name], cwd=REPO, check=True)
            results[name] = json.loads(path.read_text())
    ref = committed_history(a.rounds)
    base = results.get("unpinned")
    print(f"machine: {next(iter(results.values()))['machine']}")
    print(
        "| variant | torch kernels | round-1 train loss | max diff vs committed | identical to committed | "
        "max diff vs unpinned here | s per round | time vs unpinned |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        h, s = r["history"], sum(r["seconds"]) / len(r["seconds"])
        vs_base = f"{max_diff(h, base['history']):.3g}" if base else "–"
        ratio = f"{s / (sum(base['seconds']) / len(base['seconds'])):.2f}x" if base else "–"
        d = max_diff(h, ref)
        print(
            f"| {name} | {r['machine']['torch_cpu_capability']} | {h[0]['train_loss']!r} | {d:.3g} | "
            f"{'yes' if d == 0 else 'no'} | {vs_base} | {s:.1f} | {ratio} |"
        )
    print(f"committed run's round-1 train loss: {ref[0]['train_loss']!r}")
    if a.save:
        Path(a.save).write_text(json.dumps(results, indent=1) + "\n")
    if a.compare:
        other = json.loads(Path(a.compare).read_text())
        print(f"against {a.compare} ({next(iter(other.values()))['machine']['cpu']}):")
        for name in results.keys() & other.keys():
            d = max_diff(results[name]["history"], other[name]["history"][: a.rounds])
            print(f"  {name}: max diff {d:.3g} ({'bit-identical' if d == 0 else 'differs'})")


if __name__ == "__main__":
    main()
