"""bench/gpu_check.py on CPU with tiny sizes: it trains, samples, relaxes and projects the full relax time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_tiny_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(tmp_path / "cache"))
    sys.path.insert(0, str(REPO / "bench"))
    import gpu_check

    out = tmp_path / "gc"
    # tiny training + sampling (an undertrained model builds nothing, so no relaxation here)
    gpu_check.main("--device cpu --max-structures 120 --epochs 1 --n-samples 60 --n-relax 0 --out".split() + [str(out)])
    saved = json.loads((out / "gpu_check.json").read_text())
    assert saved["device"] == "cpu" and saved["train_epochs"] == 1 and "relax_s" not in saved
    # sampling + the relax stage with the committed model
    args = f"--device cpu --run-dir {REPO / 'runs' / 'default'} --n-samples 60 --n-relax 2 --trials 1 --steps 3"
    report = gpu_check.main([*args.split(), "--workers", "1", "--out", str(tmp_path / "gc2")])
    assert "train_s" not in report and report["n_relaxations"] >= 1 and report["n_samples_relaxed"] == 2
    assert report["projected_full_relax_min"] == pytest.approx(report["s_per_relaxation"] * 6000 / 60, rel=0.02)
