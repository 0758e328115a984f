"""Learning curve over the training data: train on 25 / 50 / 100 % of the training split, score 10k free samples.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.learning_curve [--fractions 0.25 0.5 1.0]

Each fraction < 1 trains notebook 02 with the `paper` profile's parameters (max 80 epochs, patience 4, one
thread, seed 0) and ``train_fraction`` (a seeded subset of the training split; vocabulary, validation and test
unchanged), as one point of a `wylib.sweep` over notebook 02, into ``output/learning_curve/train_fraction-<f>/``;
a finished run is skipped (resumable). Fraction 1.0 is the committed default model ``runs/default`` (the `paper`
profile's run with the same settings). Each model draws 10,000 free samples at T = 1 (seed 0, space
groups from train+val) scored at the Wyckoff level with `wylib.evaluate` against the test split.
Writes ``studies/chemistry/results/<name>.csv`` / ``.md`` and ``studies/chemistry/figures/<name>.pdf`` / ``.png``
(``--name``, default ``learning_curve``); the results file names the head switches of the models it compares.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from studies.chemistry.common import RESULTS, head_switches, save_scores, score, train
from studies.common import REPO
from studies.provenance import command_line, host_stamp
from wylib import evaluate as ev, plots

FIGURES = Path(__file__).resolve().parent / "figures"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument(
        "--name",
        default="learning_curve",
        help="studies/chemistry/results/<name>.{csv,md}, studies/chemistry/figures/<name>.{pdf,png}",
    )
    args = ap.parse_args(argv)
    t0 = time.time()
    refs = ev.load_references("mp_20_biternary_open")
    rows, heads = [], set()
    for f in args.fractions:
        run = train(f)
        print(f"[learning_curve] fraction {f:g}: model {run.relative_to(REPO)}", flush=True)
        rows.append({"train_fraction": f, **score(run, refs, args.n_samples, args.n_bootstrap)})
        heads.add(head_switches(run))
    t = pd.DataFrame(rows)
    cols = ["train_fraction", "n_train", "epochs", "best_val_nll", "test_nll", "share_4plus_elements"]
    shown = save_scores(t, args.name, cols)
    cmd = "WYLIB_DATA_DIR=../shared/data .venv/bin/" + command_line("studies.chemistry.learning_curve")
    text = (
        f"# Learning curve over the training data\n\n{host_stamp()}, "
        f"{(time.time() - t0) / 60:.1f} min. Command:\n\n    {cmd}\n\n"
        f"Models trained with the `paper` profile's settings on a seeded subset of the training split (fraction "
        f"1.0 = `runs/default`); {args.n_samples} free samples at T = 1 each, Wyckoff-level metrics against the "
        f"test split (valid, Wyckoff-unique and Wyckoff-novel samples; bootstrap 95 % over {args.n_bootstrap} "
        f"resamples); `share_4plus_elements`: % of valid samples with more distinct elements than any training "
        f"structure. Head switches on (`ModelConfig`, from each run's config.json): {'; '.join(sorted(heads))}."
        f"\n\n" + shown.to_markdown(index=False) + "\n"
    )
    (RESULTS / f"{args.name}.md").write_text(text)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, k, label in zip(
        axes,
        ["elements_ks", "el_chi2", "best_val_nll"],
        ["elements KS", "elements chi2 (paper style)", "best validation NLL, nats"],
        strict=True,
    ):
        lo = t[f"{k}_low"] if f"{k}_low" in t else None
        ax.plot(t["n_train"], t[k], "o-")
        if lo is not None:
            ax.fill_between(t["n_train"], t[f"{k}_low"], t[f"{k}_high"], alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("training structures")
        ax.set_ylabel(label)
    fig.tight_layout()
    plots.save_figure(fig, args.name, FIGURES)
    print(text)


if __name__ == "__main__":
    main()
