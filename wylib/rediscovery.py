"""Novelty against every Materials Project structure held here: one yardstick for models trained on different data.

Our train+val is a third of the authors' training data, so their S.U.N. against it is an upper bound. Judged
against every known MP structure (train+val, test split, MPTS-52), a unique stable match is a *rediscovery*,
counted by source; the expected matches of MP-20's unseen training split are estimated (docs/metrics.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from wylib import metrics
from wylib.constants import STABILITY_THRESHOLD
from wylib.evaluate import reference_structures
from wylib.hull import reference_frame

SOURCES = ("train+val", "test", "mpts_52")
_FORMULA_SUM = re.compile(r"_chemical_formula_sum\s+'?([^'\n]+)'?")


def cif_reduced_formula(cif: str) -> str | None:
    """Reduced formula from a CIF's ``_chemical_formula_sum`` line (None if it has none)."""
    m = _FORMULA_SUM.search(cif)
    if m is None:
        return None
    try:
        return Composition(m.group(1).strip()).reduced_formula
    except ValueError:
        return None


def known_frame() -> pd.DataFrame:
    """The hull's reference structures: material_id, source (the first of `SOURCES` it is in), reduced_formula, cif."""
    df = reference_frame()
    first = df["source"].str.split("+").str[0]
    df["source"] = first.map(
        lambda s: "mpts_52" if s.startswith("mpts_52") else ("test" if s.endswith("/test") else "train+val")
    )
    df["reduced_formula"] = [cif_reduced_formula(c) for c in df["cif"]]
    return df[["material_id", "source", "reduced_formula", "cif"]]


def novelty_by_source(
    structures: Sequence[Structure | None], known: pd.DataFrame, n_jobs: int = 1
) -> dict[str, np.ndarray]:
    """Per source, True where a structure matches none of that source's structures."""
    formulas = {s.composition.reduced_formula for s in structures if s is not None}
    return {
        source: metrics.novelty_mask(
            structures, reference_structures(known[known["source"] == source], formulas, n_jobs), n_jobs=n_jobs
        )
        for source in SOURCES
    }


def rediscovery_table(
    unique: Sequence[bool],
    e_hull: Sequence[float],
    novel: dict[str, np.ndarray],
    threshold: float = STABILITY_THRESHOLD,
) -> pd.DataFrame:
    """Per structure: unique, E_hull, novelty per source, S.U.N. vs train+val and vs known, where rediscovered."""
    t = pd.DataFrame({"unique": np.asarray(unique, bool), "e_hull": np.asarray(e_hull, float)})
    for s in SOURCES:
        t[f"novel_{s}"] = np.asarray(novel[s], bool)
    t["novel_known"] = t[[f"novel_{s}" for s in SOURCES]].all(axis=1)
    stable_unique = t["unique"] & (t["e_hull"] <= threshold)  # NaN E_hull -> False
    t["sun_train_val"] = stable_unique & t["novel_train+val"]
    t["sun_known"] = stable_unique & t["novel_known"]
    t["rediscovered_in"] = np.where(
        t["sun_train_val"] & ~t["novel_test"], "test", np.where(t["sun_train_val"] & ~t["novel_mpts_52"], "mpts_52", "")
    )
    return t


def summary_row(name: str, t: pd.DataFrame) -> dict:
    """Counts of one set's rediscovery table over the structures with an E_hull (the paper's denominator)."""
    h = t[t["e_hull"].notna()]
    n = len(h)
    return {
        "set": name,
        "with E_hull": n,
        "S.U.N. vs train+val": int(h["sun_train_val"].sum()),
        "rediscovered in test": int((h["rediscovered_in"] == "test").sum()),
        "rediscovered in MPTS-52": int((h["rediscovered_in"] == "mpts_52").sum()),
        "S.U.N. vs known": int(h["sun_known"].sum()),
        "S.U.N. % vs train+val": 100 * h["sun_train_val"].mean() if n else float("nan"),
        "S.U.N. % vs known": 100 * h["sun_known"].mean() if n else float("nan"),
    }


def differences(
    a: pd.DataFrame, b: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, metrics.ProportionDifference]:
    """S.U.N. of a minus b under both yardsticks (structures with an E_hull)."""
    ha, hb = a[a["e_hull"].notna()], b[b["e_hull"].notna()]
    return {
        col: metrics.proportion_difference(ha[col].to_numpy(bool), hb[col].to_numpy(bool), n_bootstrap, seed)
        for col in ("sun_train_val", "sun_known")
    }


def compare_sets(
    a, b, known: pd.DataFrame | None = None, n_jobs: int = 1, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Two `EvaluatedSet`s with E_hull: (one `summary_row` per set, a - b under both yardsticks, tables by name)."""
    if a.name == b.name:
        raise ValueError(f"the two sets need different names, both are {a.name!r}")
    known = known_frame() if known is None else known
    tables = {}
    for s in (a, b):
        if s.structures is None or s.e_hull is None:
            raise ValueError(f"{s.name}: needs structures with E_hull")
        unique = metrics.uniqueness_mask(s.structures, n_jobs=n_jobs)
        tables[s.name] = rediscovery_table(unique, s.e_hull, novelty_by_source(s.structures, known, n_jobs))
    summary = pd.DataFrame([summary_row(name, t) for name, t in tables.items()])
    diffs = differences(tables[a.name], tables[b.name], n_bootstrap=n_bootstrap, seed=seed)
    against = {"sun_train_val": "train+val (paper)", "sun_known": "every known MP structure"}
    difference = pd.DataFrame([{"novelty against": against[k], **d.cells("S.U.N.")} for k, d in diffs.items()])
    difference.insert(0, "b", b.name)
    difference.insert(0, "a", a.name)
    return summary, difference, tables
