"""Score trained models side by side as scripts/learning_curve.py does; writes results/<name>.md / .csv.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python scripts/score_model.py --run-dirs runs/default output/d13/model \
        --name element_fix_candidates

Per run: 10,000 free samples at T = 1 (seed 0, space groups from train+val) scored at the Wyckoff level with
`wylib.evaluate` against the test split (learning_curve.score), plus ``--cold-samples`` free samples at T = 0.01
(seed 0): their mean number of sites (STOP position) and share of 4+-element valid samples.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # this checkout's wylib, not an installed one
from learning_curve import KEYS, REPO, ci_cells, score  # noqa: E402


def cold(run: Path, n: int) -> dict:
    """Mean sites, mean distinct elements and % of 4+-element valid samples of `n` free samples at T = 0.01."""
    from wylib.sample import sample, spacegroup_counts
    from wylib.train import load_run

    model, vocab, _ = load_run(run, device="cpu")
    res = sample(
        model,
        vocab,
        n,
        spacegroup_distribution=spacegroup_counts("mp_20_biternary_open"),
        temperature=0.01,
        constrained=False,
        seed=0,
        device="cpu",
        progress=False,
    )
    valid = [r for r in res.representations if r is not None]
    rows = zip(res.element.tolist(), res.n_sites.tolist(), strict=True)
    distinct = [len({t for t in row[:k] if t > 2}) for row, k in rows]  # real element tokens (> STOP)
    return {
        "cold_mean_sites": float(res.n_sites.float().mean()),
        "cold_mean_distinct": sum(distinct) / n,
        "cold_validity": 100 * len(valid) / n,
        "cold_share_4plus_elements": 100 * sum(r.n_elements > 3 for r in valid) / max(len(valid), 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dirs", nargs="+", required=True, type=Path)
    ap.add_argument("--name", default="element_fix_candidates", help="results/<name>.md / .csv")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--cold-samples", type=int, default=2000, help="samples at T = 0.01 (0: skip)")
    args = ap.parse_args(argv)
    missing = [str(r) for r in args.run_dirs if not (r / "metrics.json").exists()]
    if missing:
        raise SystemExit(f"not a finished run directory (no metrics.json): {', '.join(missing)}")
    import pandas as pd

    from wylib import evaluate as ev

    t0 = time.time()
    refs = ev.load_references("mp_20_biternary_open")
    rows = []
    for run in args.run_dirs:
        model_cfg = json.loads((run / "config.json").read_text())["model"]
        row = {"run": str(run), "distinct_count": bool(model_cfg.get("distinct_count", False))}
        row.update(score(run, refs, args.n_samples, args.n_bootstrap))
        if args.cold_samples:
            row.update(cold(run, args.cold_samples))
        print(f"[score_model] {run}: {row}", flush=True)
        rows.append(row)
    t = pd.DataFrame(rows)
    (REPO / "results").mkdir(exist_ok=True)
    t.to_csv(REPO / "results" / f"{args.name}.csv", index=False)
    cols = ["run", "distinct_count", "epochs", "best_val_nll", "test_nll", "share_4plus_elements"]
    shown = t[cols + [c for c in t.columns if c.startswith("cold_")]].copy()
    shown = shown.join(ci_cells(t, KEYS))
    cmd = "python scripts/score_model.py " + " ".join(sys.argv[1:])
    text = (
        f"# Scores of candidate models\n\nHost `{platform.node()}`, {datetime.datetime.now():%Y-%m-%d %H:%M}, "
        f"{(time.time() - t0) / 60:.1f} min, 1 torch thread. Command (repository root):\n\n    {cmd}\n\n"
        f"{args.n_samples} free samples at T = 1 per model (seed 0, space groups from train+val), Wyckoff-level "
        f"metrics against the test split as in `scripts/learning_curve.py` (valid, Wyckoff-unique and "
        f"Wyckoff-novel samples; bootstrap 95 % over {args.n_bootstrap} resamples); `share_4plus_elements`: % of "
        f"valid samples with more than 3 distinct elements (no training structure has more); `cold_*`: "
        f"{args.cold_samples} free samples at T = 0.01 (mean sites = STOP position and mean distinct element tokens "
        f"before it, over all samples; validity, and 4+ share among the valid ones).\n\n"
        + shown.to_markdown(index=False)
        + "\n"
    )
    (REPO / "results" / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
