"""Papermill parameter sweeps: one run of notebook 04 per grid point, one Table 1 row per run.

    python -m wylib.sweep --grid temperature=0.5,1.0,2.0 seed=0,1 --set n_samples=2000 n_relax=0 \\
        --out output/sweep

Every combination of the ``--grid`` values runs ``notebooks/04_generation.ipynb`` through
papermill (with the ``--set`` parameters, e.g. ``run_dir``; default model `runs/default`) into
``<out>/<tag>/``; runs already complete for the same parameters are skipped (rerun after a
crash continues). Each generated set is then scored with `wylib.evaluate` against the test split
(Wyckoff-level metrics; structure-level ones too where ``n_relax`` > 0), giving one row per run.
The combined table goes to ``<out>/sweep.csv`` and ``<out>/sweep.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pandas as pd

from wylib.pipeline import NOTEBOOKS, REPO, fingerprint


def parse_assignments(items: list[str]) -> dict[str, list]:
    """``["temperature=0.5,1", "seed=0"]`` -> ``{"temperature": [0.5, 1], "seed": [0]}`` (YAML scalars)."""
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"expected NAME=VALUE[,VALUE...], got {item!r}")
        name, values = item.split("=", 1)
        out[name] = [yaml.safe_load(v) for v in values.split(",")]
    return out


def grid_points(grid: dict[str, list]) -> list[dict]:
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def tag(point: dict) -> str:
    return "_".join(f"{k}-{v}" for k, v in point.items()) or "default"


def run_point(notebook: Path, params: dict, out_dir: Path) -> None:
    """Execute the notebook for one grid point unless it already completed with these parameters."""
    import papermill

    marker = out_dir / f"{notebook.stem}.done.json"
    key = fingerprint(notebook, params, "sweep")
    if marker.exists() and json.loads(marker.read_text()).get("fingerprint") == key:
        print(f"[sweep] {out_dir.name}: complete, skipped", flush=True)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[sweep] {out_dir.name}: running {notebook.name} with {params}", flush=True)
    papermill.execute_notebook(
        str(notebook),
        str(out_dir / notebook.name),
        parameters=params,
        cwd=str(REPO),
        kernel_name="python3",
        progress_bar=False,
    )
    marker.write_text(json.dumps({"fingerprint": key, "parameters": params}, indent=1))


def score(
    points: list[dict],
    dirs: list[Path],
    dataset: str,
    n_bootstrap: int,
    seed: int,
    max_structures: int | None,
    n_jobs: int,
) -> pd.DataFrame:
    """One Table 1 row per run (point value and interval columns), grid parameters first."""
    from wylib.evaluate import METRICS, attach_hull, evaluate_set, load_references, read_generated

    refs = load_references(dataset, max_structures=max_structures, n_jobs=n_jobs)
    rows = []
    for point, d in zip(points, dirs, strict=True):
        evaluated, found = read_generated(d / "generated", name=tag(point))
        if evaluated is None:
            print(f"[sweep] {d.name}: nothing to score ({'; '.join(found)})")
            continue
        if evaluated.structures is not None:
            attach_hull(evaluated)
        row, _ = evaluate_set(evaluated, refs, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs)
        record = dict(point)
        for key, _, _ in METRICS:
            ci = row.metrics.get(key)
            if ci is not None and ci.value == ci.value:
                record[key], record[f"{key}_low"], record[f"{key}_high"] = ci.value, ci.low, ci.high
        record.update(row.counts)
        rows.append(record)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, grid_names: list[str]) -> str:
    """Compact table: grid parameters, then ``value [low, high]`` per metric, then counts."""
    from wylib.evaluate import METRICS

    shown = table[grid_names].copy()
    for key, _, _ in METRICS:
        if key in table:
            shown[key] = [
                f"{v:.3g} [{lo:.3g}, {hi:.3g}]"
                for v, lo, hi in zip(table[key], table[f"{key}_low"], table[f"{key}_high"], strict=True)
            ]
    for key in ("n_samples", "n_valid", "n_structures"):
        if key in table:
            shown[key] = table[key]
    return shown.to_markdown(index=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", nargs="+", required=True, help="NAME=V1,V2,... (parameters of notebook 04)")
    ap.add_argument("--set", nargs="*", default=[], help="fixed NAME=VALUE parameters of notebook 04")
    ap.add_argument("--out", default="output/sweep")
    ap.add_argument("--notebook", default="04_generation")
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--max-structures", type=int, default=None, help="limit the reference splits (smoke runs)")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    import papermill

    notebook = NOTEBOOKS / f"{args.notebook}.ipynb"
    declared = set(papermill.inspect_notebook(str(notebook)))
    grid = parse_assignments(args.grid)
    fixed = {k: v[0] for k, v in parse_assignments(args.set).items()}
    unknown = sorted((set(grid) | set(fixed)) - declared)
    if unknown:
        raise SystemExit(f"{notebook.name} declares no parameters {unknown}; it declares {sorted(declared)}")
    out = Path(args.out) if Path(args.out).is_absolute() else REPO / args.out
    points = grid_points(grid)
    dirs = [out / tag(p) for p in points]
    for point, d in zip(points, dirs, strict=True):
        params = {**fixed, **point, "out_dir": str(d)}
        if "max_structures" in declared and args.max_structures is not None:
            params.setdefault("max_structures", args.max_structures)
        run_point(notebook, {k: v for k, v in params.items() if k in declared}, d)
    table = score(points, dirs, args.dataset, args.n_bootstrap, args.seed, args.max_structures, args.n_jobs)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False)
    (out / "sweep.md").write_text(to_markdown(table, list(grid)))
    print(f"[sweep] {len(table)} rows -> {out / 'sweep.csv'}, {out / 'sweep.md'}")
    print(to_markdown(table, list(grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
