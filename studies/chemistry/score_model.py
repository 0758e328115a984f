"""Score trained models side by side as the learning curve does; writes studies/chemistry/results/<name>.{md,csv}.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.score_model \
        --run-dirs runs/default output/d13/model --name element_fix_candidates

Per run: 10,000 free samples at T = 1 (seed 0, space groups from train+val) scored at the Wyckoff level with
`wylib.evaluate` against the test split (`studies.chemistry.common.score`), plus ``--cold-samples`` free samples at
T = 0.01 (seed 0): their mean number of sites (STOP position) and share of 4+-element valid samples.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from studies.chemistry.common import RESULTS, save_scores, score
from studies.common import free_samples
from studies.provenance import command_line, host_stamp


def cold(run: Path, n: int) -> dict:
    """Mean sites, mean distinct elements and % of 4+-element valid samples of `n` free samples at T = 0.01."""
    res = free_samples(run, n, temperature=0.01)
    valid = [r for r in res.representations if r is not None]
    rows = zip(res.element.tolist(), res.n_sites.tolist(), strict=True)
    distinct = [len({t for t in row[:k] if t > 2}) for row, k in rows]  # real element tokens (> STOP)
    sites = res.n_sites.tolist()
    single = [i for i, d in enumerate(distinct) if d == 1]  # one element: no training structure is like that
    multi = [sites[i] for i, d in enumerate(distinct) if d >= 2]
    no_stop = res.element.shape[1]  # n_sites of a row without STOP
    return {
        "cold_mean_sites": float(res.n_sites.float().mean()),
        "cold_mean_distinct": sum(distinct) / n,
        "cold_validity": 100 * len(valid) / n,
        "cold_share_4plus_elements": 100 * sum(r.n_elements > 3 for r in valid) / max(len(valid), 1),
        "cold_single_element": 100 * len(single) / n,
        "cold_single_no_stop": 100 * sum(sites[i] >= no_stop for i in single) / max(len(single), 1),
        "cold_mean_sites_2plus": sum(multi) / max(len(multi), 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dirs", nargs="+", required=True, type=Path)
    ap.add_argument("--name", default="element_fix_candidates", help="studies/chemistry/results/<name>.md / .csv")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--cold-samples", type=int, default=2000, help="samples at T = 0.01 (0: skip)")
    args = ap.parse_args(argv)
    missing = [str(r) for r in args.run_dirs if not (r / "metrics.json").exists()]
    if missing:
        raise SystemExit(f"not a finished run directory (no metrics.json): {', '.join(missing)}")
    import pandas as pd

    from wylib import evaluate as ev
    from wylib.data import tokenize_split

    t0 = time.time()
    refs = ev.load_references("mp_20_biternary_open")
    train_reps = tokenize_split("mp_20_biternary_open", "train").representations
    train_sites = sum(r.n_sites for r in train_reps) / len(train_reps)
    train_single = 100 * sum(r.n_elements == 1 for r in train_reps) / len(train_reps)
    rows = []
    for run in args.run_dirs:
        config = json.loads((run / "config.json").read_text())
        model_cfg, ema = config["model"], config.get("train", {}).get("ema_decay")
        heads = (
            "distinct_count",
            "element_gate",
            "grammar_bias",
            "arity",
            "site_count",
            "stop_count",
            "element_features",
            "composition",
        )
        options = [k for k in heads if model_cfg.get(k, False)] + ([f"EMA {ema:g}"] if ema else [])
        if model_cfg.get("element_features") and not model_cfg.get("element_features_embed", True):
            options[options.index("element_features")] = "element_features (head only)"
        if model_cfg.get("composition") and model_cfg.get("composition_element_only"):
            options[options.index("composition")] = "composition (element head only)"
        if model_cfg.get("dropout", 0.2) != 0.2:
            options.append(f"dropout {model_cfg['dropout']:g}")
        row = {"run": str(run), "heads": " + ".join(options) or "paper", "seed": config.get("train", {}).get("seed")}
        row.update(score(run, refs, args.n_samples, args.n_bootstrap))
        if args.cold_samples:
            row.update(cold(run, args.cold_samples))
        print(f"[score_model] {run}: {row}", flush=True)
        rows.append(row)
    t = pd.DataFrame(rows)
    cols = ["run", "heads", "seed", "epochs", "best_val_nll", "test_nll", "share_4plus_elements"]
    shown = save_scores(t, args.name, cols + [c for c in t.columns if c.startswith(("inv_", "cold_"))])
    cmd = command_line("studies.chemistry.score_model")
    text = (
        f"# Scores of candidate models\n\n{host_stamp()}, "
        f"{(time.time() - t0) / 60:.1f} min, 1 torch thread. Command (repository root):\n\n    {cmd}\n\n"
        f"{args.n_samples} free samples at T = 1 per model (seed 0, space groups from train+val), Wyckoff-level "
        f"metrics against the test split as in `studies/chemistry/learning_curve.py` (valid, Wyckoff-unique and "
        f"Wyckoff-novel samples; bootstrap 95 % over {args.n_bootstrap} resamples); `share_4plus_elements`: % of "
        f"valid samples with more than 3 distinct elements (no training structure has more); `cold_*`: "
        f"{args.cold_samples} free samples at T = 0.01 (mean sites = STOP position and mean distinct element tokens "
        f"before it, over all samples; validity, and 4+ share among the valid ones; `cold_single_element` % of them "
        f"with one distinct element, `cold_single_no_stop` % of those that never emit STOP, `cold_mean_sites_2plus` "
        f"mean sites of those with 2 or more elements; the training split has {train_sites:.2f} sites on average, "
        f"{train_single:.1f} % of its structures one element); `inv_*`: % of the "
        f"T = 1 samples invalid for each reason (site symmetry absent, enumeration invalid, DoF-0 position reused, "
        f"service token, no STOP, empty, other).\n\n" + shown.to_markdown(index=False) + "\n"
    )
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
