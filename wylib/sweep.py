"""Papermill parameter sweeps: one run of a notebook per grid point, one table row per run.

    python -m wylib.sweep --grid temperature=0.5,1.0,2.0 seed=0,1 --set n_samples=2000 n_relax=0 \\
        --out output/sweep
    python -m wylib.sweep --notebook 02 --profile paper --grid train_fraction=0.25,0.5 --out output/lc

What each point gets and what ``<out>/sweep.csv``/``.md`` hold: docs/usage.md, "Parameter sweeps".
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pandas as pd
import papermill
import yaml

from wylib.evaluate import METRICS, attach_hull, evaluate_set, load_references, read_generated
from wylib.pipeline import NOTEBOOKS, REPO, execute, fingerprint, is_complete, load_profile, profile_parameters


def parse_assignments(items: list[str]) -> dict[str, list]:
    """``["temperature=0.5,1", "seed=0"]`` -> ``{"temperature": [0.5, 1], "seed": [0]}`` (YAML scalars)."""
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


def resolve_notebook(name: str) -> Path:
    """``02``, ``02_training`` or a path -> the notebook file."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path.resolve()
    found = sorted(NOTEBOOKS.glob(f"{name}*.ipynb")) if name[:2].isdigit() else []
    if len(found) != 1:
        known = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"no single notebook {name!r}: give a number, a name ({known}) or a path")
    return found[0]


def point_parameters(notebook: Path, base: dict, point: dict, out_dir: Path, max_structures: int | None = None) -> dict:
    """`base`, the point, ``out_dir`` (and ``max_structures``) as far as declared; SystemExit if unknown."""
    declared = set(papermill.inspect_notebook(str(notebook)))
    if unknown := sorted((set(base) | set(point)) - declared):
        raise SystemExit(f"{notebook.name} declares no parameters {unknown}; it declares {sorted(declared)}")
    params = {**base, **point, "out_dir": str(out_dir)}
    if max_structures is not None:
        params.setdefault("max_structures", max_structures)
    return {k: v for k, v in params.items() if k in declared}


def run_points(
    notebook: Path, points: list[dict], base: dict, out: Path, max_structures: int | None = None
) -> list[Path]:
    """Execute `notebook` once per point into ``out/<tag(point)>/`` unless complete; returns the point directories."""
    dirs = [out / tag(p) for p in points]
    for point, d in zip(points, dirs, strict=True):
        params = point_parameters(notebook, base, point, d, max_structures)
        marker = d / f"{notebook.stem}.done.json"
        key = fingerprint(notebook, params, "sweep")
        if is_complete(marker, key):
            print(f"[sweep] {d.name}: complete for these parameters, skipped", flush=True)
            continue
        print(f"[sweep] {d.name}: running {notebook.name} with {params}", flush=True)
        execute(notebook, params, d / notebook.name, marker, key)
    return dirs


def score(points: list[dict], dirs: list[Path], args: argparse.Namespace) -> pd.DataFrame:
    """One Table 1 row per run of notebook 04 (value and interval columns), grid parameters first."""
    refs = load_references(args.dataset, max_structures=args.max_structures, n_jobs=args.n_jobs)
    rows = []
    for point, d in zip(points, dirs, strict=True):
        evaluated, found = read_generated(d / "generated", name=tag(point))
        if evaluated is None:
            print(f"[sweep] {d.name}: nothing to score ({'; '.join(found)})")
            continue
        if evaluated.structures is not None:
            attach_hull(evaluated)
        row, _ = evaluate_set(evaluated, refs, n_bootstrap=args.n_bootstrap, seed=args.seed, n_jobs=args.n_jobs)
        record = dict(point)
        for key, _, _ in METRICS:
            ci = row.metrics.get(key)
            if ci is not None and ci.value == ci.value:
                record[key], record[f"{key}_low"], record[f"{key}_high"] = ci.value, ci.low, ci.high
        record.update(row.counts)
        rows.append(record)
    return pd.DataFrame(rows)


def summarize(notebook: Path, points: list[dict], dirs: list[Path]) -> pd.DataFrame:
    """One row per run: the point, wall time and peak RSS from its marker, the trained model's NLLs if any."""
    rows = []
    for point, d in zip(points, dirs, strict=True):
        marker = json.loads((d / f"{notebook.stem}.done.json").read_text())
        record = {**point, "minutes": round(marker.get("seconds", float("nan")) / 60, 1)}
        record["peak_rss_mib"] = marker.get("peak_rss_mib")
        metrics = d / "model" / "metrics.json"
        if metrics.exists():
            m = json.loads(metrics.read_text())
            record.update(
                n_train=m.get("n_train"),
                rounds=m.get("rounds"),
                best_val_nll=m.get("best_val_nll"),
                test_nll=(m.get("test") or {}).get("nll"),
            )
        rows.append(record)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, grid_names: list[str]) -> str:
    """Scored runs: grid parameters, ``value [low, high]`` per metric, counts; other tables as they are."""
    if not any(key in table for key, _, _ in METRICS):
        return table.to_markdown(index=False) + "\n"
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
    ap.add_argument("--grid", nargs="+", required=True, help="NAME=V1,V2,... (parameters of the notebook)")
    ap.add_argument("--set", nargs="*", default=[], help="fixed NAME=VALUE parameters of the notebook")
    ap.add_argument("--out", default="output/sweep")
    ap.add_argument("--notebook", default="04", help="number (02), name (04_generation) or path; default 04")
    ap.add_argument("--profile", default=None, help="start from this profile's parameters for the notebook")
    ap.add_argument("--dataset", default="mp_20_biternary_open", help="reference splits for scoring notebook 04")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--max-structures", type=int, default=None, help="limit the reference splits (smoke runs)")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    notebook = resolve_notebook(args.notebook)
    base = profile_parameters(notebook, load_profile(args.profile)) if args.profile else {}
    base.update({k: v[0] for k, v in parse_assignments(args.set).items()})
    grid = parse_assignments(args.grid)
    points = grid_points(grid)
    out = Path(args.out) if Path(args.out).is_absolute() else REPO / args.out
    for point in points:  # every point's parameters checked before the first one runs
        point_parameters(notebook, base, point, out / tag(point), args.max_structures)
    dirs = run_points(notebook, points, base, out, args.max_structures)
    table = score(points, dirs, args) if notebook.stem.startswith("04") else summarize(notebook, points, dirs)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False)
    (out / "sweep.md").write_text(to_markdown(table, list(grid)))
    print(f"[sweep] {len(table)} rows -> {out / 'sweep.csv'}, {out / 'sweep.md'}")
    print(to_markdown(table, list(grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
