"""One-command timing of the study's three costly stages on this machine, with the projected `full` relax time.

    bash bench/gpu_check.sh                       # on a GPU machine: device auto -> CUDA
    bash bench/gpu_check.sh --max-structures 200 --epochs 1 --n-samples 50 --n-relax 2 --trials 1 --steps 5
                                                  # tiny CPU smoke run (what the tests do)

1. training to early stopping with the `paper` profile's settings (max 80 epochs, patience 4);
2. sampling 10,000 free sequences at T = 1;
3. building + relaxing ``--n-relax`` valid samples with ``--trials`` pyXtal trials each at the paper protocol
   (fmax 0.05 eV/A, up to 500 FIRE steps per phase, positions then cell, symmetry kept; lowest energy kept),
   with ``--workers`` relaxation processes; the wall time per relaxation projects the `full` profile's relax stage
   (1000 samples x 6 trials = 6000 relaxations).
Prints a table and writes ``<out>/gpu_check.json``. Not a test (timings are machine facts): record results with
machine, date and command in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

FULL_RELAXATIONS = 1000 * 6


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--max-structures", type=int, default=None, help="limit every split (tiny runs)")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training and sampling")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-relax", type=int, default=64, help="samples built and relaxed")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--constrained", action="store_true", help="grammar-constrained sampling (tiny undertrained runs)")
    ap.add_argument("--run-dir", default=None, help="time sampling/relaxation with this trained run (no training)")
    ap.add_argument("--out", default="output/gpu_check")
    args = ap.parse_args(argv)

    import torch

    from wylib.device import resolve_device
    from wylib.generated import generate_structures
    from wylib.machine import machine_info
    from wylib.relax import RelaxConfig
    from wylib.sample import sample, spacegroup_counts
    from wylib.train import TrainConfig, load_run, train_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = str(resolve_device(args.device))
    torch.set_num_threads(args.threads)
    report: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "device": dev,
        "args": vars(args),
    }

    run_dir = Path(args.run_dir) if args.run_dir else out / "model"
    if args.run_dir is None:
        t = time.perf_counter()
        cfg = TrainConfig(seed=0, device=dev, num_threads=args.threads, max_epochs=args.epochs, patience=4)
        metrics = train_dataset(args.dataset, run_dir, cfg, max_structures=args.max_structures, progress=False)
        report["train_s"] = round(time.perf_counter() - t, 1)
        report["train_epochs"], report["best_val_nll"] = metrics["rounds"], metrics["best_val_nll"]

    model, vocab, _ = load_run(run_dir, device=dev)
    t = time.perf_counter()
    res = sample(
        model,
        vocab,
        args.n_samples,
        spacegroup_distribution=spacegroup_counts(args.dataset, max_structures=args.max_structures),
        temperature=1.0,
        constrained=args.constrained,
        seed=0,
        device=dev,
        progress=False,
    )
    report["sample_s"], report["validity"] = round(time.perf_counter() - t, 2), res.validity

    valid = [r for r in res.representations if r is not None][: args.n_relax]
    if args.n_relax > 0:
        t = time.perf_counter()
        config = RelaxConfig(steps=args.steps, device=dev)
        table = generate_structures(
            valid,
            out / "generated",
            n_trials=args.trials,
            seed=0,
            config=config,
            n_workers=args.workers,
            progress=False,
        )
        relax_s = time.perf_counter() - t
        n_relaxations = int(table["n_built"].sum()) if len(table) else 0
        if n_relaxations == 0:
            raise SystemExit("no valid sample was built: nothing to time (use a trained --run-dir, or train longer)")
        per = relax_s / n_relaxations
        report.update(
            relax_s=round(relax_s, 1),
            n_samples_relaxed=len(table),
            n_relaxations=n_relaxations,
            s_per_relaxation=round(per, 3),
            projected_full_relax_min=round(per * FULL_RELAXATIONS / 60, 1),
            flags=table["flag"].value_counts().to_dict(),
        )
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"machine: {report['machine']}\ndevice: {dev}")
    if "train_s" in report:
        print(
            f"training: {report['train_s']} s ({report['train_epochs']} epochs, best val {report['best_val_nll']:.2f})"
        )
    print(f"sampling {args.n_samples}: {report['sample_s']} s (validity {100 * report['validity']:.1f} %)")
    if "relax_s" in report:
        print(
            f"build + relax: {report['n_samples_relaxed']} samples x {args.trials} trials = {report['n_relaxations']} "
            f"relaxations in {report['relax_s']} s ({report['s_per_relaxation']} s each, {args.workers} workers)"
        )
        print(
            f"projected `full` relax stage ({FULL_RELAXATIONS} relaxations): {report['projected_full_relax_min']} min"
        )
    return report


if __name__ == "__main__":
    main()
