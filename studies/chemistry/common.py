"""What the chemistry scripts share: the learning curve's models and the Wyckoff-level score of 10k free samples.

`train` gives the model trained on a fraction of the training split (`learning_curve`, `sun_learning_curve`);
`score` the Wyckoff-level metrics of a model's free samples (`learning_curve`, `score_model`, `element_cap`),
`save_scores` writes their table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from studies.common import REPO, free_samples
from wylib import evaluate as ev
from wylib.pipeline import NOTEBOOKS, load_profile, profile_parameters
from wylib.sample import REASON_CATEGORIES
from wylib.sweep import run_points

OUT = REPO / "output" / "learning_curve"
RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ["validity", "elements_ks", "el_chi2", "sites_ks", "dof_ks", "p1", "sg_chi2", "charge_neutrality"]


def ci_cells(t, keys: list[str]):
    """``value [low, high]`` strings for each metric in `keys` of a table with ``<k>``, ``<k>_low``, ``<k>_high``."""
    cells = {
        k: [f"{v:.3g} [{lo:.3g}, {hi:.3g}]" for v, lo, hi in zip(t[k], t[f"{k}_low"], t[f"{k}_high"], strict=True)]
        for k in keys
    }
    return pd.DataFrame(cells, index=t.index)


def save_scores(t: pd.DataFrame, name: str, columns: list[str]) -> pd.DataFrame:
    """Write the scores `t` (a row of `score` per model) to ``results/<name>.csv``; return the table a script shows
    in ``<name>.md``: `columns` and each metric of `KEYS` as ``value [low, high]``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    t.to_csv(RESULTS / f"{name}.csv", index=False)
    return t[columns].copy().join(ci_cells(t, KEYS))


def train(fraction: float) -> Path:
    """Run directory of the model trained on `fraction` of the training split (trained if missing).

    1.0 is the committed default ``runs/default`` (the `paper` profile's run). Other fractions run notebook 02 with
    the `paper` profile's parameters and ``train_fraction`` through `wylib.sweep` into
    ``output/learning_curve/train_fraction-<f>/`` (model in its ``model/``); a finished run is skipped."""
    if fraction == 1.0:
        return REPO / "runs" / "default"
    notebook = NOTEBOOKS / "02_training.ipynb"
    base = profile_parameters(notebook, load_profile("paper"))
    (out,) = run_points(notebook, [{"train_fraction": fraction}], base, OUT)
    return out / "model"


def head_switches(run: Path) -> str:
    """The boolean `ModelConfig` switches that are on in `run` ("none" = the paper's heads), comma-separated."""
    cfg = json.loads((run / "config.json").read_text())
    cfg = cfg.get("model", cfg)
    on = sorted(k for k, v in cfg.items() if v is True)
    return ", ".join(on) or "none"


def score(run: Path, refs, n_samples: int, n_bootstrap: int, max_elements: int | None = None, seed: int = 0) -> dict:
    """Wyckoff-level metrics of `n_samples` free samples at T = 1 (sampling `seed`) of the model in `run`."""
    torch.set_num_threads(1)
    res = free_samples(run, n_samples, max_elements=max_elements, seed=seed)
    row, _ = ev.evaluate_set(ev.EvaluatedSet(run.name, res.representations), refs, n_bootstrap=n_bootstrap)
    valid = [r for r in res.representations if r is not None]
    metrics = json.loads((run / "metrics.json").read_text())
    out = {
        "n_train": metrics["n_train"],
        "best_val_nll": metrics["best_val_nll"],
        "test_nll": metrics["test"]["nll"],
        "epochs": metrics["rounds"],
        "share_4plus_elements": 100 * sum(r.n_elements > 3 for r in valid) / len(valid),
    }
    # % of all samples per invalid reason (wylib.sample.REASON_CATEGORIES, short names)
    short = dict(
        zip(
            REASON_CATEGORIES,
            ("inv_ss", "inv_enum", "inv_dof0", "inv_service", "inv_nostop", "inv_empty", "inv_other"),
            strict=True,
        )
    )
    out.update({short[c]: 100 * v / n_samples for c, v in res.reason_counts().items()})
    for k in KEYS:
        ci = row.metrics[k]
        out.update({k: ci.value, f"{k}_low": ci.low, f"{k}_high": ci.high})
    out.update({k: row.value(k) for k in ("wyckoff_uniqueness", "wyckoff_novelty")})
    return out
