"""The training-seed tables of studies/chemistry/score_model.py: means over sampling seeds, ranges, overlap."""

import pandas as pd

from studies.chemistry.score_model import SEED_METRICS, training_seed_tables


def test_training_seed_tables():
    keys = [k for k, _, _ in SEED_METRICS]
    rows = []
    for model, base in (("a", 1.0), ("b", 2.0)):
        for seed in (0, 1):
            for s in (0, 1):  # sampling seeds: the run's mean is base + seed
                rows.append({"model": model, "run": f"{model}{seed}", "seed": seed, "sampling_seed": s,
                             **{k: base + seed + (0.5 if s else -0.5) for k in keys}})  # fmt: skip
    per_run, per_model, diff = training_seed_tables(pd.DataFrame(rows), ("a", "b"))
    assert per_run["validity"].tolist() == [1.0, 2.0, 2.0, 3.0]
    assert (per_run["sampling_seeds"] == 2).all()
    a = per_model[(per_model["model"] == "a") & (per_model["metric"] == "validity")].iloc[0]
    assert (a["mean"], a["min"], a["max"], a["training_seeds"]) == (1.5, 1.0, 2.0, 2)
    d = diff.set_index("metric")
    assert d.loc["validity", "difference"] == -1.0
    assert bool(d.loc["validity", "overlap"])  # [1, 2] and [2, 3] touch
    assert d.loc["validity", "a"] == "1.5 [1, 2]"  # mean [min, max] of model a
