"""Per-structure statistics of Wyckoff representations (paper Figures 4-6, 8-9 and the KS metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from wylib.tokens import WyckoffRepresentation


def structure_statistics(reps: Sequence[WyckoffRepresentation], with_equivalents: bool = False) -> pd.DataFrame:
    """One row per structure: space group, sites, distinct elements, DoF, atoms in the conventional cell; with
    ``with_equivalents`` the number of distinct representations under the normalizer."""
    rows = []
    for rep in reps:
        row = {
            "spacegroup": rep.spacegroup,
            "n_sites": rep.n_sites,
            "n_elements": rep.n_elements,
            "dof": rep.dof,
            "n_atoms_conventional": sum(s.multiplicity for s in rep.sites),
        }
        if with_equivalents:
            row["n_equivalents"] = len(rep.aligned_equivalents())
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["spacegroup", "n_sites", "n_elements", "dof", "n_atoms_conventional"]
        + (["n_equivalents"] if with_equivalents else []),
    )


def summarize(stats: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of a statistics table (shares in %)."""
    out = {
        "n_structures": int(len(stats)),
        "p1_percent": float(100 * (stats.spacegroup == 1).mean()) if len(stats) else float("nan"),
        "mean_sites": float(stats.n_sites.mean()),
        "median_sites": float(stats.n_sites.median()),
        "max_sites": int(stats.n_sites.max()) if len(stats) else 0,
        "mean_elements": float(stats.n_elements.mean()),
        "mean_dof": float(stats.dof.mean()),
    }
    if "n_equivalents" in stats:
        out["one_representation_percent"] = float(100 * (stats.n_equivalents == 1).mean())
        out["fewer_than_10_representations_percent"] = float(100 * (stats.n_equivalents < 10).mean())
    return out
