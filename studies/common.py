"""What the study scripts of several topics share: the repository root and the scripts' free samples.

The scripts run from the repository root as modules (``python -m studies.<topic>.<script>``); each writes its
tables to ``studies/<topic>/results/`` and its figures to ``studies/<topic>/figures/`` unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

from wylib.sample import sample, spacegroup_counts
from wylib.train import load_run

REPO = Path(__file__).resolve().parent.parent


def free_samples(run: Path, n: int, temperature: float = 1.0, max_elements: int | None = None, seed: int = 0):
    """`n` free samples (sampling `seed`, space groups from train+val, CPU) of the model in `run`: the scripts'
    samples (seed 0 unless a script scores several sampling seeds)."""
    model, vocab, _ = load_run(run, device="cpu")
    return sample(
        model,
        vocab,
        n,
        spacegroup_distribution=spacegroup_counts("mp_20_biternary_open"),
        temperature=temperature,
        constrained=False,
        seed=seed,
        device="cpu",
        progress=False,
        max_elements=max_elements,
    )
