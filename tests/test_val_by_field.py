"""studies/chemistry/val_by_field.py: per-field validation NLL at the kept round and at fixed rounds of a history."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

from studies.chemistry.val_by_field import by_field

REPO = Path(__file__).resolve().parent.parent


def history() -> pd.DataFrame:
    el = [15.0, 14.0, 13.5, 13.6, 13.8]  # element field turns up after round 2
    ss = [3.0, 2.8, 2.7, 2.6, 2.55]
    en = [1.6, 1.5, 1.45, 1.41, 1.40]
    return pd.DataFrame(
        {
            "round": range(5),
            "val_nll": [a + b + c for a, b, c in zip(el, ss, en, strict=True)],
            "val_nll_element": el,
            "val_nll_site_symmetry": ss,
            "val_nll_enumeration": en,
        }
    )


def test_best_round_and_fixed_rounds() -> None:
    row = by_field(history(), rounds=[1, 9])
    assert row["rounds"] == 5 and row["best_round"] == 3 and row["element_min_round"] == 2
    assert row["best_val_nll"] == 13.6 + 2.6 + 1.41
    assert (row["best_element"], row["best_enumeration"]) == (13.6, 1.41)
    assert row["enumeration_at_1"] == 1.5 and math.isnan(row["site_symmetry_at_9"])  # round 9 never ran


def test_a_run_without_history_is_reported_and_skipped(tmp_path) -> None:
    good, empty = tmp_path / "good", tmp_path / "empty"
    good.mkdir(), empty.mkdir()
    history().to_csv(good / "history.csv", index=False)
    out = subprocess.run(
        [sys.executable, "-m", "studies.chemistry.val_by_field", "--run-dirs", str(good), str(empty)]
        + ["--name", "t", "--results-dir", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "skipped" in out.stderr and str(empty) in out.stderr
    assert len(pd.read_csv(tmp_path / "results" / "t.csv")) == 1
    assert "best_round" in (tmp_path / "results" / "t.md").read_text()
