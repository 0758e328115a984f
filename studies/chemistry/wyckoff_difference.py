"""Two trained runs, Table 1's Wyckoff-level shares as differences: is run a worse than run b beyond the interval
of the difference?

`tools/compare_runs.py` asks whether a rerun's value lies inside the reference's interval; that ignores the
rerun's own sampling noise. Here both runs draw their free samples as the `paper` profile does (notebook 04:
`--n` samples at T = 1, seed 0, space groups from train+val), every sample gets the flags of Table 1's
Wyckoff-level table (`wylib.evaluate.wyckoff_table`), and each share is compared as a - b with a bootstrap
interval over both sets and Fisher's exact test (`wylib.metrics.proportion_difference`):

* formal validity (all samples), Wyckoff uniqueness (valid ones), Wyckoff novelty (valid, Wyckoff-unique ones);
* charge neutrality (paper style, SMACT 2014) and P1 share on the statistics set (valid, Wyckoff-unique and
  Wyckoff-novel: Table 1's).

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.wyckoff_difference \
        runs/default output/paper_heads --name wyckoff_default_vs_paper_heads \
        --note "paper heads = runs/default of 950f7f9"

With more than two runs, every run but the last is compared with the last (one block of rows per run, with its
best validation NLL). Writes studies/chemistry/results/<name>.{csv,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

# (metric, label, the subset of `wylib.evaluate.wyckoff_table` rows it is a share of)
SHARES = (
    ("valid", "formal validity %", "all"),
    ("wyckoff_unique", "Wyckoff uniqueness %", "valid"),
    ("wyckoff_novel", "Wyckoff novelty %", "unique"),
    ("charge_neutral", "charge neutrality %", "statistics"),
    ("p1", "P1 %", "statistics"),
)

RESULTS = Path(__file__).resolve().parent / "results"


def share_flags(w: pd.DataFrame) -> dict[str, np.ndarray]:
    """0/1 flags of each share in `SHARES`, each over its own subset of a `wyckoff_table`."""
    valid = w[w["valid"]]
    unique = valid[valid["wyckoff_unique"]]
    stats = unique[unique["wyckoff_novel"]]
    subsets = {"all": w, "valid": valid, "unique": unique, "statistics": stats.assign(p1=stats["spacegroup"] == 1)}
    return {m: subsets[on][m].to_numpy(bool) for m, _, on in SHARES}


def differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray], n_bootstrap: int = 1000) -> pd.DataFrame:
    """a - b for every share, percentage points, bootstrap interval and Fisher's exact p."""
    from wylib.metrics import proportion_difference

    rows = []
    for m, label, on in SHARES:
        d = proportion_difference(a[m], b[m], n_bootstrap)
        rows.append(
            {
                "share": label,
                "of": on,
                "a %": 100 * d.k_a / d.n_a,
                "b %": 100 * d.k_b / d.n_b,
                "a - b, pp": d.difference.value,
                "95 % CI": d.interval(2),
                "a worse beyond the interval": bool(d.difference.high < 0) if m != "p1" else None,
                "Fisher p": d.p_value,
                "n a": d.n_a,
                "n b": d.n_b,
            }
        )
    return pd.DataFrame(rows)


def run_flags(run_dir: str, refs, n: int, dataset: str) -> dict[str, np.ndarray]:
    from wylib.evaluate import wyckoff_table
    from wylib.sample import sample, spacegroup_counts
    from wylib.train import load_run

    model, vocab, _ = load_run(run_dir, device="cpu")
    counts = spacegroup_counts(dataset)
    res = sample(model, vocab, n, spacegroup_distribution=counts, constrained=False, seed=0, device="cpu")
    return share_flags(wyckoff_table(res.representations, refs.canonical_train_val))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories: a [a2 ...] b")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--name", default="wyckoff_difference")
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    import torch

    from wylib.evaluate import load_references

    torch.set_num_threads(1)
    if len(args.runs) < 2:
        ap.error("give at least two run directories")
    t0 = time.time()
    refs = load_references(args.dataset)
    *runs_a, run_b = args.runs
    b = run_flags(run_b, refs, args.n, args.dataset)
    blocks = []
    for run_a in runs_a:
        block = differences(run_flags(run_a, refs, args.n, args.dataset), b, args.n_bootstrap)
        metrics = Path(run_a, "metrics.json")
        nll = json.loads(metrics.read_text()).get("best_val_nll") if metrics.exists() else None
        blocks.append(block.assign(a=run_a, a_best_val_nll=nll))
    table = pd.concat(blocks, ignore_index=True)
    out = RESULTS
    table.to_csv(out / f"{args.name}.csv", index=False)
    head = (
        f"a = {', '.join(f'`{r}`' for r in runs_a)}, b = `{run_b}`{' (' + args.note + ')' if args.note else ''}: "
        f"{args.n} free "
        f"samples each at T = 1, seed 0, space groups from train+val (the `paper` profile's draw), Table 1's "
        f"Wyckoff-level flags; a - b with a 95 % bootstrap interval over both sets and Fisher's exact p.\n\n"
        f"{platform.node()}, {datetime.date.today()}, "
        f"`python -m studies.chemistry.wyckoff_difference {' '.join(args.runs)} "
        f"--n {args.n} --name {args.name}`, {(time.time() - t0) / 60:.1f} min.\n\n"
    )
    (out / f"{args.name}.md").write_text(head + table.to_markdown(index=False, floatfmt=".4g") + "\n")
    print(head + table.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
