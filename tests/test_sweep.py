"""Papermill sweeps: grid parsing, and one small real sweep producing one row per run."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from wylib.sweep import grid_points, parse_assignments, tag

REPO = Path(__file__).resolve().parent.parent


def test_grid_parsing():
    grid = parse_assignments(["temperature=0.5,1.0", "seed=0,1,2"])
    assert grid == {"temperature": [0.5, 1.0], "seed": [0, 1, 2]}
    points = grid_points(grid)
    assert len(points) == 6 and points[0] == {"temperature": 0.5, "seed": 0}
    assert tag(points[-1]) == "temperature-1.0_seed-2"
    with pytest.raises(SystemExit):
        parse_assignments(["temperature"])


@pytest.mark.slow
def test_sweep_one_row_per_run(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "wylib.sweep",
        "--grid",
        "temperature=0.5,2.0",
        "--set",
        "n_samples=60",
        "n_relax=0",
        "--out",
        str(tmp_path),
        "--max-structures",
        "100",
        "--n-bootstrap",
        "20",
    ]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table.temperature) == [0.5, 2.0]
    assert (table.n_samples == 60).all() and table.validity.between(0, 100).all()
    assert (tmp_path / "sweep.md").read_text().count("\n") >= 4
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert rerun.stdout.count("complete, skipped") == 2


def test_unknown_parameter_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "wylib.sweep", "--grid", "no_such_param=1", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "declares no parameters" in result.stderr
