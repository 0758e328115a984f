"""Two Table 1 results side by side: does a rerun of the study reproduce the committed figures?

    .venv/bin/python -m tools.compare_runs results/paper/table1.csv output/paper/results/table1.csv \
        --name paper_rerun --note "fresh clone, AMD EPYC vm, 2026-12-04"

For every row present in both tables with computed values (ours, the authors' genes through our protocol,
the authors' released sets, the test split, the baseline) and every metric with an interval, the reference
value [interval], the rerun's value [interval] and whether the rerun's value lies inside the reference's
interval (widened to include its point value, as `wylib.report.compare` does, and by 1e-9 relative for
float summation order), and whether value and interval are identical (1e-12 relative: a rerun on the same kind
of machine reproduces them to the last digit). Writes <name>.{csv,md} into ``--results-dir`` (default
studies/reproducibility/results, where the reruns of the study are recorded).

It refuses what it cannot compare: a missing or empty table is an error naming the file; a row or a metric value
of the reference that the rerun lacks is listed and fails the comparison (exit code 1), as does, with
``--expect inside``, ``--expect same-values`` or ``--expect identical``, any value outside the interval, any point
value not identical, or any value or interval not identical.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent.parent / "studies" / "reproducibility" / "results"


def read_table(path: str | Path) -> pd.DataFrame:
    """A Table 1 CSV; a missing, empty or row-less file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SystemExit(f"{path}: empty file") from None
    if "row" not in table.columns or table.empty:
        raise SystemExit(f"{path}: not a Table 1 CSV (needs a 'row' column and at least one row)")
    return table


def missing_values(reference: pd.DataFrame, rerun: pd.DataFrame) -> list[str]:
    """What the reference has and the rerun lacks: whole rows with a computed value (one with an interval; the
    paper's published rows have none and are not the run's output), and such values missing or NaN."""
    metrics = [c for c in reference.columns if f"{c}_low" in reference.columns]
    ref_rows, new_rows = reference.set_index("row"), rerun.set_index("row")
    computed = ref_rows[[f"{m}_low" for m in metrics]].notna().any(axis=1)
    out = [f"row {name!r}" for name in ref_rows.index[computed] if name not in new_rows.index]
    for name in ref_rows.index.intersection(new_rows.index):
        for m in metrics:
            a = ref_rows.at[name, m]
            if np.isfinite(a) and np.isfinite(ref_rows.at[name, f"{m}_low"]):
                b = new_rows.at[name, m] if m in new_rows.columns else np.nan
                if not np.isfinite(b):
                    out.append(f"{name!r} {m}")
    return out


def compare_tables(reference: pd.DataFrame, rerun: pd.DataFrame) -> pd.DataFrame:
    """One line per (row, metric) with an interval in both tables; `inside`: the rerun's value within the
    reference's interval widened to its point value. What the rerun lacks: `missing_values`."""
    metrics = [c for c in reference.columns if f"{c}_low" in reference.columns and f"{c}_low" in rerun.columns]
    out = []
    ref_rows, new_rows = reference.set_index("row"), rerun.set_index("row")
    for name in ref_rows.index.intersection(new_rows.index):
        a, b = ref_rows.loc[name], new_rows.loc[name]
        for m in metrics:
            if not (np.isfinite(a[m]) and np.isfinite(b[m]) and np.isfinite(a[f"{m}_low"])):
                continue
            lo, hi = min(a[f"{m}_low"], a[m]), max(a[f"{m}_high"], a[m])
            lo, hi = lo - 1e-9 * abs(lo), hi + 1e-9 * abs(hi)  # the same value summed in another order
            out.append(
                dict(
                    row=name,
                    metric=m,
                    reference=a[m],
                    reference_low=a[f"{m}_low"],
                    reference_high=a[f"{m}_high"],
                    rerun=b[m],
                    rerun_low=b[f"{m}_low"],
                    rerun_high=b[f"{m}_high"],
                    inside=bool(lo <= b[m] <= hi),
                    same_value=_same(a[m], b[m]),
                    identical=all(_same(a[k], b[k]) for k in (m, f"{m}_low", f"{m}_high")),
                )
            )
    return pd.DataFrame(out)


def _same(x: float, y: float) -> bool:
    """Equal to the last digits a CSV round trip keeps (1e-12 relative), or both NaN."""
    return bool((np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-12 * max(abs(x), abs(y), 1e-300))


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"


def to_markdown(table: pd.DataFrame, note: str, missing: list[str] | None = None) -> str:
    lines = [
        note,
        "",
        f"{int(table.inside.sum())} of {len(table)} rerun values lie inside the reference's interval; "
        f"{int(table.identical.sum())} of {len(table)} are identical to it (value and interval, to 1e-12 relative); "
        f"{int(table.same_value.sum())} of {len(table)} have the identical point value.",
        "",
    ]
    if missing:
        lines += [f"**The rerun lacks {len(missing)} values of the reference**: " + "; ".join(missing), ""]
    lines += [
        "| row | metric | reference [95 % CI] | rerun [95 % CI] | inside | identical |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        ref = f"{_fmt(r.reference)} [{_fmt(r.reference_low)}, {_fmt(r.reference_high)}]"
        new = f"{_fmt(r.rerun)} [{_fmt(r.rerun_low)}, {_fmt(r.rerun_high)}]"
        inside, same = "yes" if r.inside else "**no**", "yes" if r.identical else "no"
        lines.append(f"| {r.row} | {r.metric} | {ref} | {new} | {inside} | {same} |")
    return "\n".join(lines) + "\n"


def verdict(table: pd.DataFrame, missing: list[str], expect: str) -> int:
    """Exit code: 1 when the rerun lacks values, or (``expect``) a value is outside / not identical."""
    if missing or table.empty:
        return 1
    if expect == "inside" and not table.inside.all():
        return 1
    if expect == "identical" and not table.identical.all():
        return 1
    if expect == "same-values" and not table.same_value.all():
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("rerun")
    ap.add_argument("--name", default="run_comparison")
    ap.add_argument("--note", default="")
    ap.add_argument("--results-dir", default=str(RESULTS))
    ap.add_argument(
        "--expect",
        choices=("present", "inside", "same-values", "identical"),
        default="present",
        help="same-values: every point value identical (the intervals may differ: a reference from before a change "
        "of the interval method)",
    )
    a = ap.parse_args(argv)
    reference, rerun = read_table(a.reference), read_table(a.rerun)
    table, missing = compare_tables(reference, rerun), missing_values(reference, rerun)
    note = f"Reference `{a.reference}` vs rerun `{a.rerun}`. {a.note}".strip()
    out = Path(a.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{a.name}.csv", index=False)
    text = to_markdown(table, note, missing)
    (out / f"{a.name}.md").write_text(text)
    print(text)
    return verdict(table, missing, a.expect)


if __name__ == "__main__":
    sys.exit(main())
