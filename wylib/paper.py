"""The paper's published numbers, as printed (Kazeev et al., WyckoffTransformer, NeurIPS 2024 AI4Mat).

Nothing here is computed: these are the values the study compares with. Table 1 rows are keyed by
their row id (`wylib.evaluate.ROWS` gives their display labels); Table 2 and the permutation KL are
from Appendix D; the MP-20 size from Section 4.
"""

from __future__ import annotations

import pandas as pd

# Table 1, MP-20 binary & ternary benchmark (no intervals given). Keys: `wylib.evaluate.METRICS`.
TABLE1: dict[str, dict[str, float]] = {
    "paper_wyformer": dict(
        validity=97,
        novelty=89,
        charge_neutrality=79,
        sites_ks=0.052,
        elements_ks=0.030,
        dof_ks=0.056,
        p1=1,
        sg_chi2=0.063,
        el_chi2=0.019,
        sun_paper=38.7,
    ),
    "paper_wycryst": dict(
        validity=72,
        novelty=53,
        charge_neutrality=76,
        sites_ks=0.287,
        elements_ks=0.002,
        dof_ks=0.282,
        p1=5,
        sg_chi2=0.82,
        el_chi2=0.140,
        sun_paper=36.7,
    ),
    "paper_test": dict(
        novelty=100, charge_neutrality=90, sites_ks=0, elements_ks=0, dof_ks=0, p1=1, sg_chi2=0, el_chi2=0
    ),
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
