"""S.U.N. with novelty against each model's own training data: the authors' unseen training split estimated.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.yardstick.sun_unseen

The paper's novelty is "matches no training structure". The authors' model was trained on MP-20's 60 %
training split, which no file here holds (21,317 binary/ternary structures); our novelty check cannot
see a sample that recalls one of them, so their S.U.N. against our train+val counts their recalls of
training data as novel. The MP-20 splits are random parts of one set, so a model matches the unseen split
`UnseenSplit.ratio` (about 3) times as often as the test split when it never saw either, and at least that
often when it was trained on it. This script

1. checks that scaling at the Wyckoff level, where samples are many (`studies.yardstick.recall.recall_rates`): our
   default model's 10k free samples (T = 1, seed 0) and the authors' 2-3-element released genes, matched
   per canonical class against our train, val and test splits (held-out splits should recall alike per
   class; a training split shows the model's recall factor);
2. removes the expected matches of the unseen split from S.U.N. (`studies.yardstick.composition.unseen_comparison`),
   from the committed per-category counts of `studies.yardstick.sun_known` (the 2026-12-04 paper run's
   `sun_known.csv`, both sets through this repo's protocol; `studies/yardstick/results/sun_known_release.csv`: the
   authors' relaxed set, their protocol), which reproduce the per-structure statistics and their bootstrap exactly
   (`table_from_counts`).

Writes sun_unseen.{csv,md} and recall_rates.csv into ``--results-dir`` (default studies/yardstick/results;
``--name X``: X.{csv,md} and X_recall_rates.csv).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import pandas as pd

from studies.common import REPO, free_samples
from studies.provenance import command_line
from studies.yardstick import composition
from studies.yardstick.recall import recall_rates, table_from_counts
from wylib import paper

RESULTS = Path(__file__).resolve().parent / "results"


def recall_table(n_samples: int, n_bootstrap: int) -> pd.DataFrame:
    """Wyckoff-level recall rates of our default model and of the authors' released genes."""
    import torch

    from wylib import release
    from wylib.data import tokenize_split

    torch.set_num_threads(1)
    refs = {s: tokenize_split("mp_20_biternary_open", s, n_jobs=2).representations for s in ("train", "val", "test")}
    ours = free_samples(REPO / "runs" / "default", n_samples).representations
    theirs = list(release.load_genes()["representation"])
    frames = []
    for name, reps, note in (
        ("WyckoffTransformer (this repo, runs/default)", ours, "trained on train; val for early stopping"),
        ("WyFormer genes, 2-3 el. (authors' model)", theirs, "train, val and test all held out (their validation)"),
    ):
        t = recall_rates(reps, refs, baseline="test", n_bootstrap=n_bootstrap)
        t.insert(0, "set", name)
        t["splits seen by the model"] = note
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--counts",
        default="studies/reproducibility/results/paper_run_2026-12-04/sun_known.csv",
        help="ours and theirs, same protocol (default: the paper run that trained runs/default)",
    )
    ap.add_argument(
        "--release-counts", default="studies/yardstick/results/sun_known_release.csv", help="theirs, their protocol"
    )
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--name", default="sun_unseen", help="<name>.{csv,md} (and <name>_recall_rates.csv)")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    args = ap.parse_args()
    recall_name = "recall_rates" if args.name == "sun_unseen" else f"{args.name}_recall_rates"

    from wylib import rediscovery

    t0 = time.time()
    split = composition.unseen_split()
    same = pd.read_csv(REPO / args.counts)
    rel = pd.read_csv(REPO / args.release_counts)
    ours, theirs = (table_from_counts(r) for _, r in same.iterrows())
    theirs_release = table_from_counts(rel.iloc[1])
    variants = (
        ("(c) authors' genes, this repo's protocol", theirs, None),
        ("(c), test-split rate from their relaxed set (b)", theirs, theirs_release),
        ("(b) authors' relaxed set, their protocol", theirs_release, None),
    )
    frames = []
    for label, t, rate_from in variants:
        f = composition.unseen_comparison(ours, t, split, theirs_rate_from=rate_from, n_bootstrap=args.n_bootstrap)
        f.insert(0, "theirs", label)
        frames.append(f)
    sun = pd.concat(frames, ignore_index=True)
    paper_style = []
    for label, t in (("(c) authors' genes, this repo's protocol", theirs), ("(b) their relaxed set", theirs_release)):
        for col, name in (("sun_train_val", "our train+val (paper style)"), ("sun_known", "every file held here")):
            d = rediscovery.metrics.proportion_difference(ours[col].to_numpy(bool), t[col].to_numpy(bool))
            paper_style.append(
                {
                    "theirs": label,
                    "novelty against": name,
                    "ours - theirs, pp": d.difference.value,
                    "difference 95 % CI": d.interval(),
                    "Fisher p": d.p_value,
                }
            )
    paper_style = pd.DataFrame(paper_style)
    recall = recall_table(args.n_samples, args.n_bootstrap)
    out = args.results_dir
    out.mkdir(parents=True, exist_ok=True)
    sun.to_csv(out / f"{args.name}.csv", index=False)
    recall.to_csv(out / f"{recall_name}.csv", index=False)
    cmd = "WYLIB_DATA_DIR=../shared/data .venv/bin/" + command_line("studies.yardstick.sun_unseen")
    text = (
        "# S.U.N. against each model's own training data\n\n"
        f"Host `{platform.node()}` ({platform.machine()}), {datetime.datetime.now():%Y-%m-%d %H:%M}, "
        f"{(time.time() - t0) / 60:.1f} min. Command:\n\n    {cmd.strip()}\n\n"
        f"Unseen split: MP-20 has {paper.MP20_BITERNARY_TOTAL} binary/ternary structures (paper, Sec. 4); "
        f"{paper.MP20_BITERNARY_TOTAL - split.n_unseen} are held here (test {split.n_reference}, our "
        f"train+val the rest), so {split.n_unseen} (the authors' training split) are not: "
        f"{split.ratio:.3f} times the test split; {100 * split.share_in_known:.1f} % of MP-20 structures held here "
        f"are also in MPTS-52 (so {split.ratio_beyond_known:.3f} test-split sizes of the unseen split lie beyond "
        "every file held here).\n\n"
        "## 1. Does recall scale with the size of a held-out split? (Wyckoff level)\n\n"
        f"{args.n_samples} free samples of `runs/default` (T = 1, seed 0) and the authors' 2-3-element released "
        "genes; first sample of each canonical Wyckoff class; a match = the class of some structure of the split. "
        "Ratio: share per reference class over the test split's (bootstrap 95 %).\n\n"
        + recall.to_markdown(index=False, floatfmt=".3g")
        + "\n\n## 2. S.U.N. with the unseen split's expected matches removed\n\n"
        "Per structure with an E_hull: S.U.N. flag minus `weight` for each rediscovery of a test-split structure "
        "(`studies.yardstick.composition.unseen_corrected_values`). **Own training data** (the paper's definition): "
        "ours "
        "against our train+val (weight 0: all of it is known); theirs against their training data, weight "
        f"{split.ratio:.3f} (the recall of a held-out split: a lower bound for their own training split, so their "
        "figure is an upper bound). **All of MP-20 and MPTS-52**: both against every known structure, weight "
        f"{split.ratio_beyond_known:.3f} for both (for ours unbiased: we never saw the unseen split). Bootstrap "
        "95 % over the structures of each set (and of the rate's set where it is another). Counts from "
        f"`{args.counts}` (ours and (c): same protocol, 6 trials, same hull) and `{args.release_counts}` ((b): "
        "their protocol, not the same).\n\n"
        + sun.to_markdown(index=False, floatfmt=".1f")
        + "\n\nThe uncorrected yardsticks on the same counts (`studies/yardstick/sun_known.py`):\n\n"
        + paper_style.to_markdown(index=False, floatfmt=".3g")
        + "\n"
    )
    (out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
