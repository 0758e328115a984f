"""Papermill sweeps: grid parsing, notebook names, a sweep over notebook 02 (papermill stubbed), and one small real
sweep of notebook 04 producing one row per run."""

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
    assert rerun.stdout.count("complete for these parameters, skipped") == 2


def test_unknown_parameter_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "wylib.sweep", "--grid", "no_such_param=1", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "declares no parameters" in result.stderr


def test_notebook_names_resolve():
    from wylib.sweep import resolve_notebook

    assert resolve_notebook("02").name == "02_training.ipynb"
    assert resolve_notebook("04_generation").name == "04_generation.ipynb"
    assert resolve_notebook(str(REPO / "notebooks" / "03_permutation_invariance.ipynb")).stem.startswith("03")
    with pytest.raises(SystemExit, match="no single notebook"):
        resolve_notebook("0")


def test_sweep_over_notebook_02_plumbing(tmp_path, monkeypatch):
    """A grid over notebook 02 (papermill stubbed): one directory per point, the profile's parameters under the
    --set and grid ones, one marker each through `wylib.pipeline.execute`, points skipped when complete, and one
    row per point with the model's NLLs."""
    import json

    import papermill

    from wylib import sweep

    calls = []

    def fake_execute(src, dst, parameters, **kw):
        calls.append(parameters)
        model = Path(parameters["out_dir"]) / "model"
        model.mkdir(parents=True, exist_ok=True)
        nll = 20.0 - 4 * parameters["train_fraction"]
        (model / "metrics.json").write_text(
            json.dumps(dict(n_train=100, rounds=3, best_val_nll=nll, test={"nll": nll}))
        )
        Path(dst).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    args = ["--notebook", "02", "--profile", "paper", "--grid", "train_fraction=0.25,0.5", "--set", "max_epochs=2"]
    args += ["--out", str(tmp_path)]
    assert sweep.main(args) == 0
    assert [c["train_fraction"] for c in calls] == [0.25, 0.5]
    first = calls[0]
    assert first["max_epochs"] == 2 and first["patience"] == 4 and first["num_threads"] == 1  # --set over profile
    assert first["out_dir"] == str(tmp_path / "train_fraction-0.25") and "run_dir" not in first
    marker = json.loads((tmp_path / "train_fraction-0.25" / "02_training.done.json").read_text())
    assert marker["parameters"] == first and "seconds" in marker and "machine" in marker
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table.train_fraction) == [0.25, 0.5] and list(table.best_val_nll) == [19.0, 18.0]
    assert sweep.main(args) == 0 and len(calls) == 2  # both complete: skipped
    assert sweep.main([*args[:-2], "--set", "max_epochs=3", "--out", str(tmp_path)]) == 0 and len(calls) == 4


@pytest.mark.slow
def test_real_sweep_over_notebook_02(tmp_path):
    """One real point of notebook 02 (1 epoch on 100 structures, about half a minute): the model and its row."""
    cmd = [sys.executable, "-m", "wylib.sweep", "--notebook", "02", "--grid", "train_fraction=0.5"]
    cmd += ["--set", "max_epochs=1", "num_threads=1", "--max-structures", "100", "--out", str(tmp_path)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "train_fraction-0.5" / "model" / "metrics.json").exists()
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table.train_fraction) == [0.5] and table.n_train.iloc[0] == 50 and table.rounds.iloc[0] == 1
