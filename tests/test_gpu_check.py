"""tools/gpu_check.py on CPU with tiny sizes: it trains, samples, relaxes and projects the full relax time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tools import gpu_check

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_tiny_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "gc"
    # tiny training + sampling (an undertrained model builds nothing, so no relaxation here)
    gpu_check.main("--device cpu --max-structures 120 --epochs 1 --n-samples 60 --n-relax 0 --out".split() + [str(out)])
    saved = json.loads((out / "gpu_check.json").read_text())
    assert saved["device"] == "cpu" and saved["train_epochs"] == 1 and "relax_s" not in saved
    # sampling + the relax stage with the committed model
    args = f"--device cpu --run-dir {REPO / 'runs' / 'default'} --n-samples 60 --n-relax 2 --trials 1 --steps 3"
    stale = tmp_path / "gc2" / "generated" / "relax.jsonl"  # a killed earlier run's records are not reused
    stale.parent.mkdir(parents=True)
    stale.write_text('{"id": "stale"}\n')
    (tmp_path / "gc2" / gpu_check.OWN_MARKER).write_text("")  # as the killed run left it
    report = gpu_check.main([*args.split(), "--workers", "1", "--out", str(tmp_path / "gc2")])
    assert "stale" not in stale.read_text() and report["workers"] == 1 and report["batch_size"] == 32
    assert "train_s" not in report and report["n_relaxations"] >= 1 and report["n_samples_relaxed"] == 2
    assert report["projected_full_relax_min"] == pytest.approx(report["s_per_relaxation"] * 6000 / 60, rel=0.02)


def test_gpu_check_checks_before_it_deletes(tmp_path):
    run = tmp_path / "run"
    for d in ("model", "generated"):
        (run / d).mkdir(parents=True)
        (run / d / "keep.txt").write_text("work")
    with pytest.raises(SystemExit, match="did not write"):
        gpu_check.main(["--device", "cpu", "--out", str(run)])
    if not torch.cuda.is_available():
        (run / gpu_check.OWN_MARKER).write_text("")  # even an own dir is kept when the device is missing
        with pytest.raises(SystemExit, match="--device: device='cuda': CUDA is not available"):
            gpu_check.main(["--device", "cuda", "--out", str(run)])
    assert (run / "model" / "keep.txt").exists() and (run / "generated" / "keep.txt").exists()
    for bad, says in [("--n-relax -1", "--n-relax"), ("--workers two", "--workers"), ("--epochs 0", "--epochs")]:
        with pytest.raises(SystemExit, match=says):
            gpu_check.main([*bad.split(), "--device", "cpu", "--out", str(tmp_path / "new")])
    with pytest.raises(SystemExit, match="not a trained run"):
        gpu_check.main(["--device", "cpu", "--run-dir", str(tmp_path), "--out", str(tmp_path / "new")])


@pytest.mark.slow
def test_help_example_runs_as_written(tmp_path, monkeypatch):
    """The tiny CPU example of the module's help, verbatim but for --out."""
    line = next(x for x in gpu_check.__doc__.splitlines() if "--device cpu" in x)
    args = line.split("gpu_check.sh", 1)[1].split()
    monkeypatch.chdir(REPO)
    report = gpu_check.main([*args, "--out", str(tmp_path / "example")])
    assert report["n_relaxations"] >= 2 and report["device"] == "cpu"


def test_steady_rate_counts_the_middle_of_the_run():
    steady_rate = gpu_check.steady_rate
    assert steady_rate([(1.0, 10)] * 9) == {}
    # 20 relaxations of 100 steps finishing 1 s apart after a 30 s start: 100 steps/s in the middle
    rate = steady_rate([(30.0 + i, 100) for i in range(20)])
    assert rate == dict(steps_per_s=100.0, mean_steps=100.0, first_result_s=30.0, last_result_s=49.0)
