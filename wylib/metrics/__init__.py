"""Table 1 metrics as pure functions of plain data (arrays, Compositions, Structures); docs/metrics.md."""

from wylib.metrics.bootstrap import CI, bootstrap_ci
from wylib.metrics.chemistry import charge_neutral, charge_neutral_fraction, smact_valid
from wylib.metrics.comparison import ProportionDifference, proportion_difference
from wylib.metrics.distribution import (
    Chi2Result,
    chi2_statistic,
    element_frequencies,
    elements_chi2,
    ks_statistic,
    p1_fraction,
    spacegroup_chi2,
)
from wylib.metrics.novelty import novelty_mask, uniqueness_mask
from wylib.metrics.stability import sun_mask

__all__ = [
    "CI",
    "bootstrap_ci",
    "charge_neutral",
    "charge_neutral_fraction",
    "ProportionDifference",
    "proportion_difference",
    "smact_valid",
    "Chi2Result",
    "chi2_statistic",
    "element_frequencies",
    "elements_chi2",
    "ks_statistic",
    "p1_fraction",
    "spacegroup_chi2",
    "novelty_mask",
    "uniqueness_mask",
    "sun_mask",
]
