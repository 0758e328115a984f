"""S.U.N. by composition class and with the authors' unseen training split estimated: the yardstick study's analyses
of a rediscovery table (`wylib.rediscovery`), used by `sun_known.py` and `sun_unseen.py` (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from wylib import metrics, paper
from wylib.constants import STABILITY_THRESHOLD
from wylib.hull import reference_frame
from wylib.rediscovery import SOURCES

FORMULA_CLASSES = ("formula in train+val", "formula known elsewhere", "new formula")


def _familiarity(
    structures: Sequence[Structure | None], known: pd.DataFrame, key: Callable[[str], Hashable], classes: Sequence[str]
) -> np.ndarray:
    """Per structure, the class of `key(reduced formula)`: in train+val, only in another source, in none ("": None)."""
    by_source = formulas_by_source(known)
    train_val = {key(f) for f in by_source.get("train+val", set())}
    elsewhere = {key(f) for src in SOURCES if src != "train+val" for f in by_source.get(src, set())}
    out = []
    for s in structures:
        k = key(s.composition.reduced_formula) if s is not None else None
        out.append("" if s is None else classes[0] if k in train_val else classes[1] if k in elsewhere else classes[2])
    return np.array(out, dtype=object)


def formulas_by_source(known: pd.DataFrame) -> pd.Series:
    """The set of reduced formulas of each source of a `known_frame`."""
    return known.dropna(subset=["reduced_formula"]).groupby("source")["reduced_formula"].apply(set)


def formula_familiarity(structures: Sequence[Structure | None], known: pd.DataFrame) -> np.ndarray:
    """Per structure, whether a known structure has its reduced formula (`FORMULA_CLASSES`)."""
    return _familiarity(structures, known, lambda f: f, FORMULA_CLASSES)


SYSTEM_CLASSES = ("system in train+val", "system known elsewhere", "new system")


def system_familiarity(structures: Sequence[Structure | None], known: pd.DataFrame) -> np.ndarray:
    """Per structure, whether a known compound has exactly its set of elements (`SYSTEM_CLASSES`)."""
    return _familiarity(
        structures, known, lambda f: frozenset(el.symbol for el in Composition(f).elements), SYSTEM_CLASSES
    )


@dataclass(frozen=True)
class UnseenSplit:
    """Size of the MP-20 binary/ternary structures no file here holds (the authors' training split) against the
    test split of the same random split (docs/metrics.md)."""

    n_unseen: int
    n_reference: int
    share_in_known: float  # share of MP-20 bi/ternary structures that MPTS-52 also holds (known-set check sees them)

    @property
    def ratio(self) -> float:
        """Expected matches of the unseen split per match of the reference split."""
        return self.n_unseen / self.n_reference

    @property
    def ratio_beyond_known(self) -> float:
        """The same, counting only unseen structures that no other known file (MPTS-52) holds."""
        return self.ratio * (1.0 - self.share_in_known)


def unseen_split(reference: pd.DataFrame | None = None, total: int = paper.MP20_BITERNARY_TOTAL) -> UnseenSplit:
    """`UnseenSplit` from the hull's reference frame (material_id, '+'-joined sources)."""
    if reference is None:
        reference = reference_frame()
    src = reference["source"]
    mp20 = src.str.contains("mp_20_biternary_open/")
    n_test = int(src.str.contains("mp_20_biternary_open/test").sum())
    n_seen = int(mp20.sum())
    if n_test == 0 or n_seen >= total:
        raise ValueError(f"no unseen part: {n_seen} MP-20 structures held, {n_test} in the test split, total {total}")
    share = float((mp20 & src.str.contains("mpts_52/")).sum() / n_seen)
    return UnseenSplit(n_unseen=total - n_seen, n_reference=n_test, share_in_known=share)


YARDSTICKS = ("own training data", "all of MP-20 and MPTS-52")


def unseen_corrected_values(t: pd.DataFrame, weight: float, yardstick: str) -> np.ndarray:
    """Per structure with an E_hull: its S.U.N. flag under `yardstick` minus `weight` per test-split rediscovery."""
    if yardstick not in YARDSTICKS:
        raise ValueError(f"yardstick must be one of {YARDSTICKS}, got {yardstick!r}")
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    h = t[t["e_hull"].notna()]
    base = h["sun_train_val" if yardstick == YARDSTICKS[0] else "sun_known"].to_numpy(float)
    return base - weight * (h["rediscovered_in"] == "test").to_numpy(float)


def unseen_comparison(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    split: UnseenSplit,
    theirs_trained_on_unseen: bool = True,
    theirs_rate_from: pd.DataFrame | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """S.U.N. of ours, of theirs and ours minus theirs (rediscovery tables) under the two corrected yardsticks.

    `theirs_rate_from`: another table of their model whose test-split rediscovery rate replaces theirs."""
    boot = partial(metrics.bootstrap_ci, n_boot=n_bootstrap, seed=seed)
    rows = []
    for yardstick in YARDSTICKS:
        own = yardstick == YARDSTICKS[0]
        wa = 0.0 if own else split.ratio_beyond_known
        wb = (split.ratio if theirs_trained_on_unseen else 0.0) if own else wa
        va = unseen_corrected_values(ours, wa, yardstick)
        if theirs_rate_from is None:
            vb, b_mean = (unseen_corrected_values(theirs, wb, yardstick),), np.mean
        else:  # their uncorrected flags, and -1 per test rediscovery of the other table (weighted by wb)
            hits = unseen_corrected_values(theirs_rate_from, 1.0, yardstick)
            hits = hits - unseen_corrected_values(theirs_rate_from, 0.0, yardstick)
            vb, b_mean = (unseen_corrected_values(theirs, 0.0, yardstick), hits), partial(_corrected_mean, weight=wb)
        a, b = boot(lambda x: 100.0 * x.mean(), va), boot(lambda *x, m=b_mean: 100.0 * m(*x), *vb)
        diff = boot(lambda x, *y, m=b_mean: 100.0 * (x.mean() - m(*y)), va, *vb)
        rows.append(
            {
                "novelty against": yardstick,
                "weight ours": wa,
                "weight theirs": wb,
                "S.U.N. % ours": a.value,
                "ours 95 % CI": f"[{a.low:.1f}, {a.high:.1f}]",
                "S.U.N. % theirs": b.value,
                "theirs 95 % CI": f"[{b.low:.1f}, {b.high:.1f}]",
                "ours - theirs, pp": diff.value,
                "difference 95 % CI": f"[{diff.low:+.1f}, {diff.high:+.1f}]",
                "n ours": len(va),
                "n theirs": len(vb[0]),
            }
        )
    return pd.DataFrame(rows)


def _corrected_mean(values: np.ndarray, hits: np.ndarray, weight: float) -> float:
    return values.mean() + weight * hits.mean()


def familiarity_frame(structures: Sequence[Structure | None], table: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """The rows of a `rediscovery_table` with an E_hull, plus structure, formula/system class, n_elements, stable."""
    t = table.assign(
        structure=list(structures),
        formula=formula_familiarity(structures, known),
        system=system_familiarity(structures, known),
        n_elements=[len(s.composition.elements) if s is not None else 0 for s in structures],
        stable=table["e_hull"] <= STABILITY_THRESHOLD,
    )
    return t[t["e_hull"].notna()]


def stability_by_class(name: str, frame: pd.DataFrame, by: str = "formula") -> pd.DataFrame:
    """Per number of elements and class (column `by`): share, stable and S.U.N. shares, median E_hull."""
    return pd.DataFrame(
        [
            {
                "set": name,
                "elements": n_el,
                by: cls,
                "share of its arity %": 100 * len(g) / (frame["n_elements"] == n_el).sum(),
                "stable %": 100 * g["stable"].mean(),
                "S.U.N. % vs train+val": 100 * g["sun_train_val"].mean(),
                "median E_hull": g["e_hull"].median(),
                "n": len(g),
            }
            for (n_el, cls), g in frame.groupby(["n_elements", by])
        ]
    )


def stable_share_differences(
    a: pd.DataFrame, b: pd.DataFrame, by: str = "formula", n_bootstrap: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Stable share of a minus b within each (number of elements, class of column `by`) both frames have."""
    rows = []
    for (n_el, cls), ga in a.groupby(["n_elements", by]):
        gb = b[(b["n_elements"] == n_el) & (b[by] == cls)]
        if len(gb):
            d = metrics.proportion_difference(ga["stable"], gb["stable"], n_bootstrap, seed)
            rows.append({"elements": n_el, by: cls, **d.cells("stable", "stable a - b, pp")})
    return pd.DataFrame(rows)


def unseen_formula_estimate(name: str, frame: pd.DataFrame, known: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """Estimate (not a measurement) of the "new formula" samples that have the formula of an unseen MP-20 training
    structure (`ratio` x those only the test split holds), and the new-formula stable share without them."""
    formulas = formulas_by_source(known)
    test_only = formulas.get("test", set()) - formulas.get("train+val", set())
    rows = []
    for n_el, g in frame.groupby("n_elements"):
        k_test = sum(s.composition.reduced_formula in test_only for s in g["structure"])
        new = g[g["formula"] == FORMULA_CLASSES[2]]
        known_rate = g.loc[g["formula"] != FORMULA_CLASSES[2], "stable"].mean() if len(new) < len(g) else 1.0
        m = ratio * k_test
        rest = len(new) - m
        rows.append(
            {
                "set": name,
                "elements": n_el,
                "n": len(g),
                "formula only in the test split": k_test,
                "expected unseen-training formulas": m,
                "stable share of known formulas %": 100 * known_rate,
                "new-formula stable %": 100 * new["stable"].mean() if len(new) else float("nan"),
                "new-formula stable % without them (estimate)": (
                    100 * (new["stable"].sum() - m * known_rate) / rest if rest > 0 else float("nan")
                ),
            }
        )
    return pd.DataFrame(rows)


def stability_by_composition(
    a, b, tables: dict[str, pd.DataFrame], known: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Where two sets' stability differs (`tables`: `compare_sets`' tables): the five `COMPOSITION_TABLES`."""
    frames = {s.name: familiarity_frame(s.structures, tables[s.name], known) for s in (a, b)}
    new = {n: f[f["formula"] == FORMULA_CLASSES[2]] for n, f in frames.items()}
    ratio = unseen_split().ratio_beyond_known
    return (
        pd.concat([stability_by_class(n, f) for n, f in frames.items()], ignore_index=True),
        stable_share_differences(frames[a.name], frames[b.name], "formula", n_bootstrap, seed),
        pd.concat([stability_by_class(n, f, by="system") for n, f in new.items()], ignore_index=True),
        stable_share_differences(new[a.name], new[b.name], "system", n_bootstrap, seed),
        pd.concat([unseen_formula_estimate(n, f, known, ratio) for n, f in frames.items()], ignore_index=True),
    )


def composition_report(by_class: tuple[pd.DataFrame, ...], ratio: float, a: str = "a", b: str = "b") -> str:
    """Markdown of `stability_by_composition`'s tables with what each is (`ratio`: of `unseen_formula_estimate`)."""
    by_formula, formula_diff, by_system, system_diff, unseen = (
        t.to_markdown(index=False, floatfmt=".3g") for t in by_class
    )
    return (
        "By whether the sample's reduced formula is known (a train+val structure has it; only a test-split or "
        "MPTS-52 structure has it; none), within each number of distinct elements (structures with an E_hull):\n\n"
        f"{by_formula}\n\nStable share within each class, a = {a} minus b = {b}:\n\n{formula_diff}\n\n"
        "The new-formula samples by chemical system: does a known compound have exactly their set of elements "
        "(in train+val; only in another known file; in none)? Shares within each number of elements, and the "
        f"stable share a = {a} minus b = {b}:\n\n{by_system}\n\n{system_diff}\n\n"
        "An estimate, not a measurement (`wylib.rediscovery.unseen_formula_estimate`): formulas of MP-20's training "
        f'split that no file here holds hide among the "new" formulas. A model draws them at {ratio:.2f} times its '
        "rate of formulas that only the test split holds (expected for a model that never saw them; a lower bound "
        "for the authors' model, trained on them); they are taken to be stable at the set's own rate over its "
        f"known-formula samples:\n\n{unseen}\n"
    )


COMPOSITION_TABLES = tuple(
    "by_formula by_formula_difference new_formulas_by_system new_formulas_by_system_difference unseen_formulas".split()
)


def write_composition_tables(by_class: tuple[pd.DataFrame, ...], directory, prefix: str) -> None:
    """`stability_by_composition`'s tables as ``<directory>/<prefix>_<name>.csv``."""
    for name, table in zip(COMPOSITION_TABLES, by_class, strict=True):
        table.to_csv(Path(directory) / f"{prefix}_{name}.csv", index=False)
