"""S.U.N. over the training data: is our S.U.N. gap to the authors' genes a data-limited one?

    WYLIB_DATA_DIR=../shared/data nohup .venv/bin/python -m studies.chemistry.sun_learning_curve \
        --fractions 0.25 0.5 1.0 --temperatures 1.0 0.8 --n 300 --trials 1 \
        > output/sun_learning_curve.log 2>&1 &

For each training fraction, the model of `studies.chemistry.learning_curve` (notebook 02 with the `paper` profile's
training settings on a seeded subset of the training split; 1.0 = `runs/default`, trained if missing, reused
when finished) draws the `paper` profile's samples (10,000 free samples at T = 1, seed 0, space groups from
train+val) and its first `--n` formally valid ones are built `--trials` times with pyXtal and relaxed with the
paper protocol (`wylib.generated.generate_structures`: FIRE, fmax 0.05, 500 steps per phase, positions then
cell, symmetry kept; lowest energy kept). `--temperatures` other than 1 add rows for the largest fraction's
model sampled at those temperatures (a sampler setting, not the paper's T = 1). The first `--n` of the
authors' released 2-3-element genes go through the same build, relaxation and hull (`--no-authors` skips
them). S.U.N. on this project's CHGNet hull (uniqueness within each set, novelty against our train+val),
denominator: samples with an E_hull. The slope of our S.U.N. against log2(training structures) comes with a
bootstrap interval (`proportion_trend`).
Resumable: every set's relaxations are kept in ``<out>/<set>/relax.jsonl``; rerun the same command after a
kill. Writes studies/chemistry/results/<name>.{csv,md} and studies/chemistry/figures/<name>.{pdf,png}.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from studies.chemistry.common import train
from studies.provenance import command_line
from wylib.metrics import CI, bootstrap_ci

HERE = Path(__file__).resolve().parent
RESULTS, FIGURES = HERE / "results", HERE / "figures"


MP20_TRAIN = 27136  # structures in MP-20's training split (CDVAE's split, the one the authors trained on)


def set_row(name: str, samples: list[dict], gen_dir: Path, refs, a) -> tuple[dict, np.ndarray]:
    """Build + relax `samples` into `gen_dir` (resumable) and score them; returns (row, S.U.N. flags)."""
    from wylib.constants import STABILITY_THRESHOLD
    from wylib.evaluate import attach_hull, evaluate_set, read_generated
    from wylib.generated import generate_structures
    from wylib.relax import RelaxConfig

    t0 = time.time()
    table = generate_structures(
        samples, gen_dir, n_trials=a.trials, seed=0, config=RelaxConfig(steps=a.steps), n_workers=a.workers
    )
    relax_min = (time.time() - t0) / 60
    s, _ = read_generated(gen_dir, name=name)
    attach_hull(s)
    row, details = evaluate_set(s, refs, n_bootstrap=a.n_bootstrap, n_jobs=a.workers)
    st = details[details["level"] == "structure"].reset_index(drop=True)
    e = st["e_hull"].to_numpy(float)
    ok = np.isfinite(e)
    sun = row.metrics["sun_paper"]
    out = {
        "set": name,
        "samples": len(samples),
        "relaxed": int(table["energy_per_atom"].notna().sum()),
        "with E_hull": int(ok.sum()),
        "unique %": round(100 * float(st["unique"].mean()), 1) if "unique" in st else None,
        "novel %": round(100 * float(st["novel"].mean()), 1) if "novel" in st else None,
        "median E_hull (eV/atom)": round(float(np.median(e[ok])), 4),
        "stable % (E_hull <= 0.08)": round(100 * float((e[ok] <= STABILITY_THRESHOLD).mean()), 1),
        "S.U.N. %": round(sun.value, 1),
        "S.U.N. low": round(sun.low, 1),
        "S.U.N. high": round(sun.high, 1),
        "build + relax min (this call)": round(relax_min, 1),
    }
    return out, st.loc[ok, "sun"].astype(bool).to_numpy()


def proportion_trend(
    sizes: Sequence[float], outcomes: Sequence[Sequence[bool]], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> CI:
    """Least-squares slope of 100 * mean(outcome) against log2(size): percentage points per doubling.

    One independent set of 0/1 outcomes per size (e.g. S.U.N. flags of models trained on growing data);
    the interval resamples every set independently. Needs two or more distinct positive sizes."""
    x = np.log2(np.asarray(sizes, float))
    if len(outcomes) != x.size:
        raise ValueError(f"{x.size} sizes but {len(outcomes)} outcome sets")
    if x.size < 2 or np.unique(x).size < 2 or not np.all(np.isfinite(x)):
        raise ValueError("a trend needs two or more distinct positive sizes")
    xc = x - x.mean()

    def slope(*sets: np.ndarray) -> float:
        y = np.array([100.0 * s.mean() if s.size else np.nan for s in sets])
        return float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))

    return bootstrap_ci(slope, *[np.asarray(o, bool) for o in outcomes], n_boot=n_boot, seed=seed, alpha=alpha)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--n", type=int, default=300, help="valid samples per set")
    ap.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        default=[1.0],
        help="sampling temperatures; those other than 1 add rows for the largest fraction's model",
    )
    ap.add_argument("--trials", type=int, default=1, help="pyXtal trials per sample (paper: 6)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--no-authors", action="store_true", help="skip the authors' genes")
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--out", default="output/sun_learning_curve")
    ap.add_argument(
        "--name",
        default="sun_learning_curve",
        help="studies/chemistry/results/<name>.{csv,md}, studies/chemistry/figures/<name>.{pdf,png}",
    )
    a = ap.parse_args()
    import json

    from wylib import plots
    from wylib.evaluate import authors_elements, load_references
    from wylib.generated import model_samples
    from wylib.metrics.comparison import proportion_difference
    from wylib.release import gene_samples

    t0 = time.time()
    stamp = f"{platform.node()} ({os.cpu_count()} cores), {datetime.date.today()}"
    print(f"{stamp}: {vars(a)}", flush=True)
    out = Path(a.out)
    refs = load_references(a.dataset)
    sets: list[tuple[str, float | None, float, object]] = []
    for f in a.fractions:
        run = train(f)
        sets.append((f"ours, {100 * f:g} % of train", f, 1.0, run))
    top = max(a.fractions)
    for t in a.temperatures:
        if t != 1.0:
            sets.append((f"ours, {100 * top:g} % of train, T = {t:g}", top, t, train(top)))
    if not a.no_authors:
        sets.append(("authors' genes (2-3 el.)", None, 1.0, None))
    rows, flags = [], {}
    for name, f, t, run in sets:
        if run is None:
            samples, tag = gene_samples(a.n, authors_elements(a.dataset)), "authors"
        else:
            samples = model_samples(run, a.n, a.dataset, temperature=t)
            tag = f"f{f:g}" if t == 1.0 else f"f{f:g}_T{t:g}"
        print(f"[sun_learning_curve] {name}: {len(samples)} samples x {a.trials} trial(s)", flush=True)
        row, flags[name] = set_row(name, samples, out / tag, refs, a)
        if run is not None:
            metrics = json.loads((Path(run) / "metrics.json").read_text())
            nll = round(metrics["best_val_nll"], 3)
            row.update(temperature=t, train_fraction=f, n_train=metrics["n_train"], best_val_nll=nll)
        rows.append(row)
        print(row, flush=True)
    base = f"ours, {100 * max(a.fractions):g} % of train"
    for row in rows:
        for ref in (base, "authors' genes (2-3 el.)"):
            if ref in flags and row["set"] != ref:
                x = proportion_difference(flags[row["set"]], flags[ref], n_boot=a.n_bootstrap)
                d = x.difference
                row[f"minus {ref}, pp [95 % CI]"] = f"{d.value:+.1f} [{d.low:+.1f}, {d.high:+.1f}] (p {x.p_value:.2g})"
    df = pd.DataFrame(rows)
    ours_rows = [r for r in rows if r.get("train_fraction") is not None and r["temperature"] == 1.0]
    trend_text = ""
    if len({r["n_train"] for r in ours_rows}) >= 2:
        trend = proportion_trend(
            [r["n_train"] for r in ours_rows], [flags[r["set"]] for r in ours_rows], n_boot=a.n_bootstrap
        )
        trend_text = (
            f"Least-squares slope of our S.U.N. against log2(training structures): {trend.value:+.1f} pp per "
            f"doubling [{trend.low:+.1f}, {trend.high:+.1f}] (`proportion_trend`, every set "
            f"resampled independently)."
        )
        theirs = next((r for r in rows if r["set"] == "authors' genes (2-3 el.)"), None)
        top = max(ours_rows, key=lambda r: r["n_train"])
        if theirs is not None and trend.value > 0:
            gap = theirs["S.U.N. %"] - top["S.U.N. %"]
            trend_text += (
                f" If the trend stayed log-linear (an extrapolation, not a measurement), closing the "
                f"{gap:+.1f}-point gap to the authors' genes would take {gap / trend.value:.1f} more doublings "
                f"of our {top['n_train']} training structures (the authors' model saw MP-20's "
                f"{MP20_TRAIN} training structures of all chemistries, {np.log2(MP20_TRAIN / top['n_train']):.1f} "
                f"doublings more, not all of them binaries or ternaries)."
            )
        print(trend_text, flush=True)
    cmd = command_line("studies.chemistry.sun_learning_curve")
    note = (
        f"# S.U.N. over the training data\n\n{stamp}, `{cmd}`, {(time.time() - t0) / 60:.0f} min in this call "
        f"(resumed calls count only their own time). Per set: the first {a.n} formally valid samples (ours: "
        f"the `paper` profile's draw of each model, T = 1, seed 0; the authors': their released 2-3-element "
        f"genes in file order), {a.trials} pyXtal trial(s) each, every trial relaxed with the paper protocol "
        f"(FIRE, fmax 0.05, {a.steps} steps per phase, positions then cell, symmetry kept), lowest energy "
        f"kept; E_hull on this project's CHGNet hull; S.U.N. = unique, novel against our train+val and "
        f"E_hull <= 0.08 eV/atom, denominator: samples with an E_hull; 95 % bootstrap intervals; differences "
        f"between independent sets with a bootstrap interval and Fisher's exact p. Same code, hull and "
        f"protocol for every row. The authors' model was trained on the full MP-20 training split "
        f"({MP20_TRAIN} structures of all chemistries; ours: {max((r['n_train'] for r in ours_rows), default=0)} "
        f"binaries and ternaries at most), so their "
        f"samples can be novel against our train+val while known to their model. `build + relax min`: wall "
        f"time of this call only (0 where every relaxation was already done).\n\n"
    )
    shown = df.drop(columns=[c for c in ("S.U.N. low", "S.U.N. high") if c in df])
    shown.insert(
        shown.columns.get_loc("S.U.N. %") + 1,
        "S.U.N. 95 % CI",
        [f"[{lo}, {hi}]" for lo, hi in zip(df["S.U.N. low"], df["S.U.N. high"], strict=True)],
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    df.to_csv(RESULTS / f"{a.name}.csv", index=False)
    table_md = shown.to_markdown(index=False) + "\n"
    (RESULTS / f"{a.name}.md").write_text(note + table_md + (f"\n{trend_text}\n" if trend_text else ""))
    print(shown.to_string(index=False), flush=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ours = df[df["train_fraction"].notna() & (df["temperature"] == 1.0)] if "train_fraction" in df else df.iloc[:0]
    if len(ours):
        yerr = [ours["S.U.N. %"] - ours["S.U.N. low"], ours["S.U.N. high"] - ours["S.U.N. %"]]
        ax.errorbar(ours["n_train"], ours["S.U.N. %"], yerr=yerr, fmt="o-", capsize=3, label="ours")
        ax.set_xscale("log")
    theirs = df[df["set"] == "authors' genes (2-3 el.)"]
    if len(theirs):
        t = theirs.iloc[0]
        ax.axhspan(t["S.U.N. low"], t["S.U.N. high"], color="C1", alpha=0.2)
        ax.axhline(t["S.U.N. %"], color="C1", label="authors' genes (full MP-20 model)")
    ax.set_xlabel("binary + ternary training structures")
    ax.set_ylabel(f"S.U.N. %, {a.trials} trial(s), with E_hull")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save_figure(fig, a.name, FIGURES)


if __name__ == "__main__":
    main()
