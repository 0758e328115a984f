"""Learning curve over the training data: train on 25 / 50 / 100 % of the training split, score 10k free samples.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python scripts/learning_curve.py [--fractions 0.25 0.5 1.0]

Each fraction < 1 trains notebook 02 through papermill with the `paper` profile's training settings
(max 80 epochs, patience 4, one thread, seed 0) and ``train_fraction`` (a seeded subset of the training
split; vocabulary, validation and test unchanged) into ``output/learning_curve/f<fraction>/``; a finished
run is reused (resumable). Fraction 1.0 is the committed default model ``runs/default`` (the `paper`
profile's run with the same settings). Each model draws 10,000 free samples at T = 1 (seed 0, space
groups from train+val) scored at the Wyckoff level with `wylib.evaluate` against the test split.
Writes ``results/<name>.csv`` / ``.md`` and ``figures/<name>.pdf`` / ``.png`` (``--name``, default
``learning_curve``); the results file names the head switches of the models it compares.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "output" / "learning_curve"
KEYS = ["validity", "elements_ks", "el_chi2", "sites_ks", "dof_ks", "p1", "sg_chi2", "charge_neutrality"]


def ci_cells(t, keys: list[str]):
    """``value [low, high]`` strings for each metric in `keys` of a table with ``<k>``, ``<k>_low``, ``<k>_high``."""
    import pandas as pd

    cells = {
        k: [f"{v:.3g} [{lo:.3g}, {hi:.3g}]" for v, lo, hi in zip(t[k], t[f"{k}_low"], t[f"{k}_high"], strict=True)]
        for k in keys
    }
    return pd.DataFrame(cells, index=t.index)


def train(fraction: float) -> Path:
    """Run directory of the model trained on `fraction` of the training split (trained if missing)."""
    if fraction == 1.0:
        return REPO / "runs" / "default"
    import papermill

    out = OUT / f"f{fraction:g}"
    run = out / "model"
    if (run / "metrics.json").exists():
        return run
    out.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(REPO / "notebooks" / "02_training.ipynb"),
        str(out / "02_training.ipynb"),
        parameters=dict(
            train_fraction=fraction,
            max_epochs=80,
            patience=4,
            num_threads=1,
            seed=0,
            out_dir=str(out),
            run_dir=str(run),
        ),
        cwd=str(REPO),
        kernel_name="python3",
        progress_bar=False,
    )
    return run


def head_switches(run: Path) -> str:
    """The boolean `ModelConfig` switches that are on in `run` ("none" = the paper's heads), comma-separated."""
    cfg = json.loads((run / "config.json").read_text())
    cfg = cfg.get("model", cfg)
    on = sorted(k for k, v in cfg.items() if v is True)
    return ", ".join(on) or "none"


def free_samples(run: Path, n: int, temperature: float = 1.0, max_elements: int | None = None):
    """`n` free samples (seed 0, space groups from train+val, CPU) of the model in `run`: the scripts' samples."""
    from wylib.sample import sample, spacegroup_counts
    from wylib.train import load_run

    model, vocab, _ = load_run(run, device="cpu")
    return sample(
        model,
        vocab,
        n,
        spacegroup_distribution=spacegroup_counts("mp_20_biternary_open"),
        temperature=temperature,
        constrained=False,
        seed=0,
        device="cpu",
        progress=False,
        max_elements=max_elements,
    )


def score(run: Path, refs, n_samples: int, n_bootstrap: int, max_elements: int | None = None) -> dict:
    """Wyckoff-level metrics of `n_samples` free samples at T = 1 (seed 0) of the model in `run`."""
    import torch

    from wylib import evaluate as ev
    from wylib.sample import REASON_CATEGORIES

    torch.set_num_threads(1)
    res = free_samples(run, n_samples, max_elements=max_elements)
    row, _ = ev.evaluate_set(ev.EvaluatedSet(run.name, res.representations), refs, n_bootstrap=n_bootstrap)
    valid = [r for r in res.representations if r is not None]
    metrics = json.loads((run / "metrics.json").read_text())
    out = {
        "n_train": metrics["n_train"],
        "best_val_nll": metrics["best_val_nll"],
        "test_nll": metrics["test"]["nll"],
        "epochs": metrics["rounds"],
        "share_4plus_elements": 100 * sum(r.n_elements > 3 for r in valid) / len(valid),
    }
    # % of all samples per invalid reason (wylib.sample.REASON_CATEGORIES, short names)
    short = dict(
        zip(
            REASON_CATEGORIES,
            ("inv_ss", "inv_enum", "inv_dof0", "inv_service", "inv_nostop", "inv_empty", "inv_other"),
            strict=True,
        )
    )
    out.update({short[c]: 100 * v / n_samples for c, v in res.reason_counts().items()})
    for k in KEYS:
        ci = row.metrics[k]
        out.update({k: ci.value, f"{k}_low": ci.low, f"{k}_high": ci.high})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--name", default="learning_curve", help="results/<name>.{csv,md}, figures/<name>.{pdf,png}")
    args = ap.parse_args(argv)
    import matplotlib.pyplot as plt
    import pandas as pd

    from wylib import evaluate as ev, plots

    t0 = time.time()
    refs = ev.load_references("mp_20_biternary_open")
    rows, heads = [], set()
    for f in args.fractions:
        run = train(f)
        print(f"[learning_curve] fraction {f:g}: model {run.relative_to(REPO)}", flush=True)
        rows.append({"train_fraction": f, **score(run, refs, args.n_samples, args.n_bootstrap)})
        heads.add(head_switches(run))
    t = pd.DataFrame(rows)
    (REPO / "results").mkdir(exist_ok=True)
    t.to_csv(REPO / "results" / f"{args.name}.csv", index=False)
    shown = t[["train_fraction", "n_train", "epochs", "best_val_nll", "test_nll", "share_4plus_elements"]].copy()
    shown = shown.join(ci_cells(t, KEYS))
    cmd = "WYLIB_DATA_DIR=../shared/data .venv/bin/python scripts/learning_curve.py " + " ".join(sys.argv[1:])
    text = (
        f"# Learning curve over the training data\n\nHost `{platform.node()}`, "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {(time.time() - t0) / 60:.1f} min. Command:\n\n    {cmd}\n\n"
        f"Models trained with the `paper` profile's settings on a seeded subset of the training split (fraction "
        f"1.0 = `runs/default`); {args.n_samples} free samples at T = 1 each, Wyckoff-level metrics against the "
        f"test split (valid, Wyckoff-unique and Wyckoff-novel samples; bootstrap 95 % over {args.n_bootstrap} "
        f"resamples); `share_4plus_elements`: % of valid samples with more distinct elements than any training "
        f"structure. Head switches on (`ModelConfig`, from each run's config.json): {'; '.join(sorted(heads))}."
        f"\n\n" + shown.to_markdown(index=False) + "\n"
    )
    (REPO / "results" / f"{args.name}.md").write_text(text)
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
    plots.save_figure(fig, args.name, REPO / "figures")
    print(text)


if __name__ == "__main__":
    main()
