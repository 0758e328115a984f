"""Score trained models side by side as the learning curve does; writes studies/chemistry/results/<name>.{md,csv}.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.score_model \
        --run-dirs runs/default output/d13/model --name element_fix_candidates

Per run: 10,000 free samples at T = 1 (seed 0, space groups from train+val) scored at the Wyckoff level with
`wylib.evaluate` against the test split (`studies.chemistry.common.score`), plus ``--cold-samples`` free samples at
T = 0.01 (seed 0): their mean number of sites (STOP position) and share of 4+-element valid samples.

Training seeds x sampling seeds (model-against-model claims, issue 32): ``--sampling-seeds`` scores every run at each
sampling seed; ``--labels`` names the model of each run (runs with the same label are its training seeds) and
``--difference A B`` adds A minus B per metric with whether their ranges over training seeds overlap:

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.score_model --run-dirs \
        output/seeds/paper_s0/model output/seeds/paper_s1/model output/seeds/paper_s2/model \
        runs/default output/seeds/default_s1/model output/seeds/default_s2/model \
        --labels "paper heads" "paper heads" "paper heads" default default default \
        --sampling-seeds 0 1 2 3 4 --n-bootstrap 0 --cold-samples 0 --difference default "paper heads" \
        --name training_seeds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from studies.chemistry.common import RESULTS, save_scores, score
from studies.common import free_samples
from studies.provenance import command_line, host_stamp
from wylib.machine import cpu_model

# Wyckoff-level Table 1 metrics of the training-seed tables (column, display name, better: up / down)
SEED_METRICS = [
    ("validity", "validity %", "up"),
    ("charge_neutrality", "charge neutral %", "up"),
    ("sites_ks", "sites KS", "down"),
    ("elements_ks", "elements KS", "down"),
    ("dof_ks", "DoF KS", "down"),
    ("sg_chi2", "SG chi2", "down"),
    ("el_chi2", "El chi2", "down"),
    ("share_4plus_elements", "4+ elements %", "down"),
    ("p1", "P1 %", "test"),
    ("wyckoff_uniqueness", "Wyckoff uniqueness %", "up"),
    ("wyckoff_novelty", "Wyckoff novelty %", "up"),
    ("best_val_nll", "val NLL", "down"),
    ("test_nll", "test NLL", "down"),
]


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


def training_seed_tables(t, difference: tuple[str, str] | None):
    """Tables of per-(run, sampling seed) scores `t` (columns ``model``, ``run``, ``seed``, ``sampling_seed`` and
    `SEED_METRICS`): per run the mean over sampling seeds; per model the mean and [min, max] of those over its
    training seeds; and, for `difference` = (A, B), A minus B with whether the two ranges overlap."""
    import pandas as pd

    keys = [k for k, _, _ in SEED_METRICS]
    per_run = t.groupby(["model", "run", "seed"], sort=False)[keys].mean().reset_index()
    per_run.insert(3, "sampling_seeds", t.groupby(["model", "run", "seed"], sort=False).size().to_numpy())
    stats = {
        m: pd.DataFrame({"mean": g[keys].mean(), "min": g[keys].min(), "max": g[keys].max(), "n": len(g)})
        for m, g in per_run.groupby("model", sort=False)
    }
    per_model = pd.DataFrame(
        [
            {"model": m, "metric": k, "training_seeds": int(st.loc[k, "n"]), **st.loc[k, ["mean", "min", "max"]]}
            for m, st in stats.items()
            for k in keys
        ]
    )
    diff = None
    if difference:
        a, b = (stats[m] for m in difference)
        rows = []
        for k, _, better in SEED_METRICS:
            d = a.loc[k, "mean"] - b.loc[k, "mean"]
            overlap = a.loc[k, "min"] <= b.loc[k, "max"] and b.loc[k, "min"] <= a.loc[k, "max"]
            side = "" if better == "test" else ("better" if (d > 0) == (better == "up") else "worse")
            rows.append(
                {
                    "metric": k,
                    difference[0]: _cell(a.loc[k]),
                    difference[1]: _cell(b.loc[k]),
                    "difference": d,
                    "overlap": overlap,
                    f"{difference[0]} (ranges apart)": side if not overlap else "",
                }
            )
        diff = pd.DataFrame(rows)
    return per_run, per_model, diff


def _cell(r) -> str:
    """``mean [min, max]`` of a row with those fields."""
    return f"{r['mean']:.4g} [{r['min']:.4g}, {r['max']:.4g}]"


def _cells(per_model):
    """Model x metric ``mean [min, max]`` strings."""
    names = {k: n for k, n, _ in SEED_METRICS}
    per_model = per_model.assign(cell=[_cell(r) for _, r in per_model.iterrows()])
    t = per_model.pivot(index="model", columns="metric", values="cell")[list(names)].rename(columns=names)
    t.insert(0, "training seeds", per_model.groupby("model")["training_seeds"].first())
    return t.reindex(per_model["model"].unique()).reset_index()


def write_training_seeds(t, name: str, difference, header: str) -> str:
    """Write ``<name>.csv`` (per run, per model, difference, long format), ``<name>_by_sampling_seed.csv`` and
    ``<name>.md``; return the Markdown."""
    import pandas as pd

    per_run, per_model, diff = training_seed_tables(t, difference)
    names = {k: n for k, n, _ in SEED_METRICS}
    keys = list(names)
    all_draws = pd.DataFrame(
        [
            {"model": m, "metric": k, "training_seeds": g["seed"].nunique(), "mean": g[k].mean(), "min": g[k].min(),
             "max": g[k].max()}
            for m, g in t.groupby("model", sort=False)
            for k in keys
        ]
    )  # fmt: skip
    long = [
        per_run.melt(id_vars=["model", "run", "seed", "sampling_seeds"], var_name="metric", value_name="mean")
        .rename(columns={"seed": "training_seed"})
        .assign(table="per training seed (mean over sampling seeds)"),
        per_model.assign(table="per model (mean, min, max over training seeds)"),
    ]
    if diff is not None:
        long.append(diff.assign(table=f"{difference[0]} - {difference[1]}"))
    pd.concat(long, ignore_index=True).to_csv(RESULTS / f"{name}.csv", index=False)
    t.to_csv(RESULTS / f"{name}_by_sampling_seed.csv", index=False)
    shown = per_run.rename(columns={**names, "seed": "training seed"}).drop(columns="run")
    text = (
        header
        + "\n\n## Per model and training seed: mean over sampling seeds\n\n"
        + shown.to_markdown(index=False, floatfmt=".4g")
        + "\n\n## Per model: mean [min, max] over training seeds (of the means above)\n\n"
        + _cells(per_model).to_markdown(index=False)
        + "\n\n## Per model: mean [min, max] over every (training seed, sampling seed) draw\n\n"
        + _cells(all_draws).to_markdown(index=False)
        + "\n"
    )
    if diff is not None:
        d = diff.assign(metric=diff["metric"].map(names), difference=[f"{v:+.4g}" for v in diff["difference"]])
        text += (
            f"\n## {difference[0]} minus {difference[1]} (means over training seeds)\n\n`overlap`: whether the two "
            "models' [min, max] ranges over training seeds overlap; where they do not, the last column says on "
            "which side the first model lies.\n\n" + d.to_markdown(index=False) + "\n"
        )
    (RESULTS / f"{name}.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dirs", nargs="+", required=True, type=Path)
    ap.add_argument("--name", default="element_fix_candidates", help="studies/chemistry/results/<name>.md / .csv")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--cold-samples", type=int, default=2000, help="samples at T = 0.01 (0: skip)")
    ap.add_argument("--sampling-seeds", type=int, nargs="+", default=[0], help="several: training-seed tables")
    ap.add_argument("--labels", nargs="+", help="model name of each run (default: its heads)")
    ap.add_argument("--difference", nargs=2, metavar=("A", "B"), help="A minus B per metric (two --labels)")
    ap.add_argument("--reuse", type=Path, help="a <name>_by_sampling_seed.csv: its (run, sampling seed) rows are kept")
    args = ap.parse_args(argv)
    if args.labels and len(args.labels) != len(args.run_dirs):
        raise SystemExit("--labels needs one name per run directory")
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
    reused = pd.read_csv(args.reuse) if args.reuse else pd.DataFrame(columns=["run", "sampling_seed"])
    for i, run in enumerate(args.run_dirs):
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
        heads = " + ".join(options) or "paper"
        base = {"run": str(run), "heads": heads, "seed": config.get("train", {}).get("seed")}
        base["model"] = args.labels[i] if args.labels else heads
        for s in args.sampling_seeds:
            done = reused[(reused["run"] == str(run)) & (reused["sampling_seed"] == s)]
            if len(done):  # scored before with the same settings (the header names the file)
                rows.append({**done.iloc[0].to_dict(), **base})
                continue
            row = {**base, "sampling_seed": s, **score(run, refs, args.n_samples, args.n_bootstrap, seed=s)}
            if args.cold_samples and s == args.sampling_seeds[0]:
                row.update(cold(run, args.cold_samples))
            print(f"[score_model] {run} sampling seed {s} ({(time.time() - t0) / 60:.1f} min): {row}", flush=True)
            rows.append(row)
    t = pd.DataFrame(rows)
    cmd = command_line("studies.chemistry.score_model")
    if len(args.sampling_seeds) > 1:
        seeds = ", ".join(map(str, args.sampling_seeds))
        runs = ", ".join(f"`{r}`" for r in args.run_dirs)
        header = (
            f"# Models over training seeds and sampling seeds\n\n{host_stamp()}, {cpu_model()}, "
            f"{(time.time() - t0) / 60:.1f} min, 1 torch thread. Command (repository root):\n\n    {cmd}\n\n"
            f"Per run {args.n_samples} free samples at T = 1 per sampling seed ({seeds}; space groups from "
            "train+val), Wyckoff-level Table 1 metrics against the test split (`studies.chemistry.common.score`: "
            "statistics on the valid, Wyckoff-unique, Wyckoff-novel samples; `4+ elements %` of the valid samples; "
            "val and test NLL from the run's metrics.json, one value per run). Per run the mean over the sampling "
            f"seeds; per model the mean and [min, max] of those over its training seeds. Runs: {runs}. Per "
            f"sampling seed: `{args.name}_by_sampling_seed.csv`."
            + (f" Rows of `{args.reuse}` reused (scored earlier by this script, same settings)." if args.reuse else "")
        )
        print(write_training_seeds(t, args.name, args.difference, header))
        return
    cols = ["run", "heads", "seed", "epochs", "best_val_nll", "test_nll", "share_4plus_elements"]
    shown = save_scores(t, args.name, cols + [c for c in t.columns if c.startswith(("inv_", "cold_"))])
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
