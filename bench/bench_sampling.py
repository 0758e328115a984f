"""Sampling throughput: 10,000 Wyckoff representations (acceptance: under 1 minute on 2 cores).

Uses a trained run directory (``--run-dir``) or, without one, a paper-size randomly
initialised model whose STOP logit is biased so that sequences have a realistic
length (``--stop-bias``). Space groups are drawn from the train+val distribution of
``--dataset``. Interleaves the candidate (prefix cache) and the baseline (three
``cascade_logits`` passes per position) per repetition so that machine noise hits
both alike; reports wall and CPU seconds, samples/s, validity and mean length.

    python -m bench.bench_sampling --n 10000 --threads 2 [--run-dir output/.../run] [--reps 2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch

from bench.common import paper_size_config
from wylib.model import STOP, WyckoffTransformer
from wylib.sample import sample, spacegroup_counts


def random_model(dataset: str, stop_bias: float):
    from wylib.data import tokenize_split
    from wylib.symmetry import spacegroup_features
    from wylib.vocab import Vocabulary

    vocab = Vocabulary.from_training(tokenize_split(dataset, "train").representations)
    f = spacegroup_features()
    torch.manual_seed(0)
    model = WyckoffTransformer(paper_size_config(vocab, f), f).eval()
    with torch.no_grad():
        model.heads[0][-1].bias[STOP] += stop_bias
    return model, vocab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--stop-bias", type=float, default=4.0)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.run_dir:
        from wylib.train import load_run

        model, vocab, _ = load_run(args.run_dir, device="cpu")
        what = f"trained run {args.run_dir}"
    else:
        model, vocab = random_model(args.dataset, args.stop_bias)
        what = f"random init, paper size, STOP bias {args.stop_bias}"
    counts = spacegroup_counts(args.dataset)
    print(
        f"# {platform.node()} nproc={os.cpu_count()} threads={args.threads} {datetime.datetime.now():%Y-%m-%d %H:%M} "
        f"load={os.getloadavg()[0]:.1f} model: {what}, {model.n_params()} parameters, n={args.n}"
    )
    print("| implementation | mode | wall s | CPU s | samples/s (wall) | validity | mean sites |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    impls = [("prefix cache", True)] + ([] if args.skip_baseline else [("3 x cascade_logits", False)])
    for _ in range(args.reps):
        for constrained in (True, False):
            for name, cache in impls:
                t0, c0 = time.perf_counter(), time.process_time()
                res = sample(
                    model,
                    vocab,
                    args.n,
                    spacegroup_distribution=counts,
                    constrained=constrained,
                    seed=0,
                    batch_size=args.batch_size,
                    device="cpu",
                    progress=False,
                    cache_prefix=cache,
                )
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                ok = res.n_sites < vocab.length
                print(
                    f"| {name} | {'constrained' if constrained else 'unconstrained'} | {wall:.1f} | {cpu:.1f} | "
                    f"{args.n / wall:.0f} | {100 * res.validity:.2f} % | {res.n_sites[ok].float().mean():.2f} |",
                    flush=True,
                )
    print(f"# load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
