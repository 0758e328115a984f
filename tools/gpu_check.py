"""One-command timing of the study's three costly stages on this machine, with the projected `full` relax time.

    bash tools/gpu_check.sh                       # on a GPU machine: device auto -> CUDA
    bash tools/gpu_check.sh --device cpu --run-dir runs/default --n-samples 60 --n-relax 2 --trials 1 --steps 5
                                                  # tiny CPU smoke run with the committed model (a test runs it)

1. training to early stopping with the `paper` profile's settings (max 80 epochs, patience 4);
2. sampling 10,000 free sequences at T = 1;
3. building + relaxing ``--n-relax`` valid samples with ``--trials`` pyXtal trials each at the paper protocol
   (fmax 0.05 eV/A, up to 500 FIRE steps per phase, positions then cell, symmetry kept; lowest energy kept),
   with ``--workers`` relaxation processes (default "auto": `wylib.relax.worker_layout`, on a GPU one per CPU
   core but one) and the device's default batch size; the wall time per relaxation (build + relax) projects the
   `full` profile's relax stage (1000 samples x 6 trials = 6000 relaxations) linearly. This carries the start-up
   and the last, longest relaxations of the subset into every share of the projection, so it errs high for small
   subsets; the steady rate (FIRE structure-steps per second between the 10th and the 90th percentile of finished
   relaxations) is reported beside it.
Every run starts from scratch: ``<out>/model`` (when training) and ``<out>/generated`` are deleted first, so
that a killed earlier run's finished work is never timed as free; the device and the inputs are checked before
that, and an ``--out`` that holds a model or generated set but not this tool's marker (e.g. a pipeline run's out
dir: no `.gpu_check_out` marker) is refused instead of cleared. Prints a table and writes
``<out>/gpu_check.json``. Not a test (timings are machine facts): record results with machine, date and command
in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import time
from pathlib import Path

import torch

from wylib.device import resolve_device
from wylib.generated import as_sample, build_samples, generate_structures
from wylib.machine import machine_info
from wylib.relax import RelaxConfig, n_workers_for
from wylib.sample import sample, spacegroup_counts
from wylib.train import TrainConfig, load_run, train_dataset

FULL_RELAXATIONS = 1000 * 6
OWN_MARKER = ".gpu_check_out"  # written first: an out dir without it is somebody else's and is never cleared


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
    ap.add_argument("--workers", default="auto", help='relax processes, or "auto"')
    ap.add_argument("--batch-size", type=int, default=None, help="structures per CHGNet call (default: the device's)")
    ap.add_argument("--constrained", action="store_true", help="grammar-constrained sampling (tiny undertrained runs)")
    ap.add_argument("--run-dir", default=None, help="time sampling/relaxation with this trained run (no training)")
    ap.add_argument("--out", default="output/gpu_check")
    args = ap.parse_args(argv)

    dev = str(check_arguments(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / OWN_MARKER).write_text("written by tools/gpu_check.py: its model/ and generated/ are cleared on every run\n")
    for stale in ("model", "generated"):  # a timing never resumes: a killed earlier run's work would count as free
        if stale != "model" or args.run_dir is None:
            shutil.rmtree(out / stale, ignore_errors=True)
    torch.set_num_threads(args.threads)
    report: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "device": dev,
        "args": vars(args),
        "chgnet_assembly": os.environ.get("WYLIB_CHGNET_ASSEMBLY", "default"),
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
        config = RelaxConfig(steps=args.steps, device=dev, batch_size=args.batch_size).resolved()
        workers = n_workers_for(args.workers if args.workers == "auto" else int(args.workers), dev)
        t = time.perf_counter()
        samples = [as_sample(r, i) for i, r in enumerate(valid)]
        (out / "generated").mkdir(parents=True, exist_ok=True)
        build_samples(samples, out / "generated" / "builds.jsonl", args.trials, 0, n_workers=workers, progress=False)
        build_s = time.perf_counter() - t
        finished: list[tuple[float, int]] = []  # (seconds since the relax start, FIRE steps) per relaxation
        t_relax = time.perf_counter()
        table = generate_structures(
            valid,
            out / "generated",
            n_trials=args.trials,
            seed=0,
            config=config,
            n_workers=workers,
            progress=False,
            on_result=lambda rec: finished.append((time.perf_counter() - t_relax, sum(rec["n_steps"]))),
        )
        relax_s = time.perf_counter() - t
        n_relaxations = int(table["n_built"].sum()) if len(table) else 0
        if n_relaxations == 0:
            raise SystemExit("no valid sample was built: nothing to time (use a trained --run-dir, or train longer)")
        per = relax_s / n_relaxations
        report.update(steady_rate(finished))
        report.update(
            workers=workers,
            batch_size=config.batch_size,
            build_s=round(build_s, 1),
            relax_only_s=round(relax_s - build_s, 1),
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
            f"relaxations in {report['relax_s']} s ({report['s_per_relaxation']} s each; build {report['build_s']} s; "
            f"{workers} workers, batch {config.batch_size})"
        )
        if "steps_per_s" in report:
            print(
                f"steady rate: {report['steps_per_s']} FIRE structure-steps/s, mean {report['mean_steps']} steps per "
                f"relaxation, first relaxation finished after {report['first_result_s']} s"
            )
        print(
            f"projected `full` relax stage ({FULL_RELAXATIONS} relaxations): {report['projected_full_relax_min']} min"
        )
    return report


def check_arguments(args: argparse.Namespace):
    """Everything that can be wrong before anything is deleted or computed: the device, the sizes, the run dir,
    and that ``--out`` is not somebody's run (a model or generated set without this tool's report)."""
    try:
        dev = resolve_device(args.device)
    except ValueError as err:
        raise SystemExit(f"--device: {err}") from None
    for name in ("epochs", "threads", "n_samples", "trials", "steps"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.n_relax < 0:
        raise SystemExit(f"--n-relax must be 0 or more, not {args.n_relax}")
    if args.workers != "auto" and not (args.workers.isdigit() and int(args.workers) >= 1):
        raise SystemExit(f'--workers must be "auto" or a positive integer, not {args.workers!r}')
    if args.run_dir is not None:
        missing = [f for f in ("config.json", "model.pt", "vocab.json") if not (Path(args.run_dir) / f).is_file()]
        if missing:
            raise SystemExit(f"--run-dir {args.run_dir}: not a trained run (missing {', '.join(missing)})")
    out = Path(args.out)
    if any((out / d).exists() for d in ("model", "generated")) and not (out / OWN_MARKER).exists():
        raise SystemExit(
            f"--out {out} holds a model or generated set that this tool did not write (no {OWN_MARKER}): "
            "choose an empty or new directory; nothing was deleted"
        )
    return dev


def steady_rate(finished: list[tuple[float, int]]) -> dict:
    """Steady relax rate from (time, FIRE steps) of each finished relaxation in finishing order: steps of the
    relaxations that finished between the 10th and the 90th percentile over the time between them."""
    if len(finished) < 10:
        return {}
    finished = sorted(finished)
    lo, hi = len(finished) // 10, (9 * len(finished)) // 10
    span = finished[hi][0] - finished[lo][0]
    steps = sum(n for _, n in finished[lo + 1 : hi + 1])
    return dict(
        steps_per_s=round(steps / span, 1) if span > 0 else None,
        mean_steps=round(sum(n for _, n in finished) / len(finished), 1),
        first_result_s=round(finished[0][0], 1),
        last_result_s=round(finished[-1][0], 1),
    )


if __name__ == "__main__":
    main()
