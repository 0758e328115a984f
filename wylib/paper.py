"""The paper's published numbers, as printed (Kazeev et al., WyckoffTransformer, NeurIPS 2024 AI4Mat).

Nothing here is computed. Table 1 rows are keyed by row id (`wylib.evaluate.ROW_LABELS` gives their labels).
"""

from __future__ import annotations

import pandas as pd

# Table 1, MP-20 binary & ternary benchmark (no intervals given); None: not given. Keys: `wylib.evaluate.METRICS`.
_TABLE1_KEYS = "validity novelty charge_neutrality sites_ks elements_ks dof_ks p1 sg_chi2 el_chi2 sun_paper".split()
TABLE1: dict[str, dict[str, float]] = {
    row_id: {k: v for k, v in zip(_TABLE1_KEYS, values, strict=True) if v is not None}
    for row_id, values in {
        "paper_wyformer": (97, 89, 79, 0.052, 0.030, 0.056, 1, 0.063, 0.019, 38.7),
        "paper_wycryst": (72, 53, 76, 0.287, 0.002, 0.282, 5, 0.82, 0.140, 36.7),
        "paper_test": (None, 100, 90, 0, 0, 0, 1, 0, 0, None),
    }.items()
}

# Appendix D: KL between log p of generated sequences and of their permutations, and the entropy (nats).
KL = {"kl": 2.0, "entropy": 19.0, "n_sequences": 9046, "n_permutations": 20}

# Section 4: structures with 2 or 3 distinct elements over MP-20's train/val/test splits.
MP20_BITERNARY_TOTAL = 35575


def table2() -> pd.DataFrame:
    """Table 2 (MP-20 model, Appendix D): -E log p, its standard deviation and the mean standard deviation
    over permutations, nats."""
    return pd.DataFrame(
        [
            ("Generated, T=100", 499.0, 373.6, 16.8),
            ("Test", 93.0, 49.2, 5.4),
            ("Train", 92.8, 48.3, 5.5),
            ("Generated, T=1", 17.0, 6.2, 1.5),
            ("Generated, T=0.01", 12.9, 6.9, 1.5),
        ],
        columns=["dataset", "neg_mean_logp", "std_logp", "mean_std_over_permutations"],
    )
