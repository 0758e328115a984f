"""Table 1 as files and sentences: the wide table, CSV + Markdown (paper layout), comparisons in words."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from wylib.evaluate import _NAN, CONSTRUCTION, COUNTS, METRICS, PERCENT, Row


def table1(rows: Sequence[Row]) -> pd.DataFrame:
    """Wide table, one line per row: name, id, source, <metric>, <metric>_low, <metric>_high, counts, notes."""
    out = []
    for r in rows:
        d: dict = {"row": r.name, "id": r.id, "source": r.source}
        for k, _, _ in METRICS:
            ci = r.metrics.get(k, _NAN)
            d[k], d[f"{k}_low"], d[f"{k}_high"] = ci.value, ci.low, ci.high
        d.update({c: r.counts.get(c) for c in COUNTS})
        d["notes"] = " | ".join(r.notes)
        out.append(d)
    return pd.DataFrame(out)


def format_ci(value: float, low: float, high: float, key: str) -> str:
    """A metric's table cell: "value [low, high]", 1 decimal for percentages and 3 otherwise; "–" if missing."""
    if value is None or not np.isfinite(value):
        return "–"
    digits = 1 if key in PERCENT else 3
    s = f"{value:.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        s += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return s


def to_markdown(table: pd.DataFrame) -> str:
    """Paper layout (metrics down, sets across), "value [2.5 %, 97.5 %]", the construction of each metric (ours;
    the authors' model), then notes per set."""
    header = ["Metric"] + list(table["row"]) + ["construction: ours; authors' model"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for k, name, better in METRICS:
        arrow = {"up": " ↑", "down": " ↓"}.get(better, "")
        cells = [format_ci(row[k], row[f"{k}_low"], row[f"{k}_high"], k) for _, row in table.iterrows()]
        lines.append(f"| {name}{arrow} | " + " | ".join(cells) + " | " + "; ".join(CONSTRUCTION[k]) + " |")
    for c in COUNTS:
        cells = [
            "–" if row["source"] == "published" or pd.isna(row[c]) else str(int(row[c])) for _, row in table.iterrows()
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " | |")
    lines += [
        "",
        "Intervals: bootstrap, 95 %, resampling the evaluated set (the test split is fixed), centered on the point "
        "value: KS and chi2 are distances, and resampled sets sit farther from the test split than the set itself, "
        "so the spread of the replicates is moved onto the estimate (docs/metrics.md); a seeds row gives the mean "
        "and the [min, max] over sampling seeds instead. KS and chi2 grow as a set shrinks: compare them across "
        "sets of different size only in `table1_equal_size.md`. Columns marked 'paper as published' come from the "
        "paper's own data, hull and protocol, not recomputed. Construction: learned by the model, drawn from a "
        "prior, or enforced by the sampler. '–': not available (reason in the notes).",
        "",
    ]
    for _, row in table.iterrows():
        if row["notes"]:
            lines.append(f"- **{row['row']}**: " + "; ".join(row["notes"].split(" | ")))
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``table1.csv`` and ``table1.md`` into `results_dir`; returns both paths."""
    d = Path(results_dir)
    d.mkdir(parents=True, exist_ok=True)
    csv, md = d / "table1.csv", d / "table1.md"
    table.to_csv(csv, index=False)
    md.write_text(to_markdown(table))
    return csv, md


def compare(ours: Row, other: Row, ours_test: Row | None = None, other_test: Row | None = None) -> list[str]:
    """One sentence per metric both rows have: values, whether the other lies within our interval (widened to hold
    our point value), and which is better; metrics without a direction by distance to each row's test split."""
    out = []
    for k, name, better in METRICS:
        a, b = ours.metrics.get(k, _NAN), other.metrics.get(k, _NAN)
        if not (np.isfinite(a.value) and np.isfinite(b.value)):
            continue
        lo, hi = min(a.low, a.value), max(a.high, a.value)
        inside = np.isfinite(a.low) and lo <= b.value <= hi
        s = (
            f"{name}: {a.value:.4g} [{a.low:.4g}, {a.high:.4g}] for {ours.name} vs {b.value:.4g} for {other.name}; "
            + ("within" if inside else "outside")
            + " our interval"
        )
        if better == "test" and ours_test is not None and other_test is not None:
            ta, tb = ours_test.value(k), other_test.value(k)
            if np.isfinite(ta) and np.isfinite(tb):
                da, db = abs(a.value - ta), abs(b.value - tb)
                verdict = (
                    "equally close" if math.isclose(da, db, abs_tol=1e-9) else ("closer" if da < db else "farther")
                )
                s += f"; distance to its test split {da:.3g} vs {db:.3g} ({verdict} for {ours.name})"
        elif better in ("up", "down") and not inside:
            ok = a.value > b.value if better == "up" else a.value < b.value
            s += f" ({'better' if ok else 'worse'} for {ours.name})"
        out.append(s + ".")
    return out


def write_difference(difference: dict, results_dir: str | Path, ours: str, theirs: str) -> tuple[Path, Path]:
    """``sun_difference.json`` and ``.md`` from `evaluate.sun_difference`: S.U.N. of `ours` minus `theirs`."""
    d = Path(results_dir)
    d.mkdir(parents=True, exist_ok=True)
    records = {
        label: dict(
            difference_pp=x.difference.value,
            low=x.difference.low,
            high=x.difference.high,
            p_value=x.p_value,
            ours_sun=x.k_a,
            ours_n=x.n_a,
            theirs_sun=x.k_b,
            theirs_n=x.n_b,
        )
        for label, x in difference.items()
    }
    js, md = d / "sun_difference.json", d / "sun_difference.md"
    js.write_text(json.dumps({"ours": ours, "theirs": theirs, "difference": records}, indent=1))
    lines = [
        f"S.U.N. of **{ours}** minus **{theirs}** (same build + relax protocol, same hull), percentage points, "
        "bootstrap 95 % interval over both sets, Fisher's exact test.",
        "",
        "| denominator | ours | theirs | difference, pp | 95 % interval | p (Fisher) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, x in difference.items():
        lines.append(
            f"| {label} | {x.k_a}/{x.n_a} ({100 * x.k_a / max(x.n_a, 1):.1f} %) | {x.k_b}/{x.n_b} "
            f"({100 * x.k_b / max(x.n_b, 1):.1f} %) | {x.difference.value:+.1f} | "
            f"{x.interval()} | {x.p_value:.3g} |"
        )
    md.write_text("\n".join(lines) + "\n")
    return js, md
