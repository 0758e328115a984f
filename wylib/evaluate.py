"""Table 1: one row of metrics per evaluated set, with bootstrap 95 % intervals, plus the paper's rows.

An `EvaluatedSet` has two levels, because only part of a generated set reaches 3D:

* Wyckoff level, ``representations``: every attempted sample (``None`` = formally
  invalid). Gives formal validity, Wyckoff uniqueness/novelty (canonical
  representation, `WyckoffRepresentation.canonical`, absent from train+val: an extra
  column, since the paper's novelty needs structures), and the statistics (charge
  neutrality, KS on sites / elements / DoF, P1, space-group and element chi^2).
* structure level, ``structures`` (+ the sampled representation and E_hull of each):
  the samples sent to the 3D stage (``None`` = build/relaxation failed). Gives
  uniqueness, novelty (StructureMatcher vs train+val, grouped by reduced
  composition), S.U.N. and S.S.U.N.

The statistics are computed on the subset named by ``statistics_on``:
``"wyckoff_novel"`` (valid, Wyckoff-unique and Wyckoff-novel samples: the paper's
"unique, novel" filter at the level every sample has), ``"structure_novel"`` (the
sampled representations of the unique, novel structures: the paper's filter, on the
3D subset only) or ``"all"`` (every valid sample; the test split scored against itself).

Paper choices that paper-facts.md calls weak are reported beside a corrected value:
chi^2 with categories absent from the test set dropped (paper) vs Laplace-smoothed
over all categories (corrected); S.U.N. over structures with an E_hull (paper) vs over
every attempted sample (S.U.N. count / samples sent to 3D x formal validity), and over
chemical systems whose binary subsystems all have reference compounds.
Percentages are on a 0-100 scale. Published numbers are constants marked
``source="published"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from wylib.metrics import CI, bootstrap_ci, chi2_statistic, ks_statistic, novelty_mask, smact_valid, uniqueness_mask
from wylib.metrics.stability import STABILITY_THRESHOLD, sun_mask
from wylib.tokens import WyckoffRepresentation

# key, display name, better ("up", "down", or "test": closer to the test split)
METRICS: list[tuple[str, str, str]] = [
    ("validity", "Formal validity %", "up"),
    ("uniqueness", "Uniqueness % (structures)", "up"),
    ("novelty", "Novelty % (structures)", "up"),
    ("wyckoff_uniqueness", "Wyckoff uniqueness % (extra)", "up"),
    ("wyckoff_novelty", "Wyckoff novelty % (extra)", "up"),
    ("charge_neutrality", "Charge neutrality %", "test"),
    ("sites_ks", "Num sites KS", "down"),
    ("elements_ks", "Num elements KS", "down"),
    ("dof_ks", "DoF KS", "down"),
    ("p1", "P1 %", "test"),
    ("sg_chi2", "Space group chi2 (paper: test-absent groups dropped)", "down"),
    ("sg_chi2_corrected", "Space group chi2 (corrected: smoothed)", "down"),
    ("el_chi2", "Elements chi2 (paper: test-absent elements dropped)", "down"),
    ("el_chi2_corrected", "Elements chi2 (corrected: smoothed)", "down"),
    ("sun_paper", "S.U.N. % (paper: of structures with E_hull)", "up"),
    ("sun_all", "S.U.N. % (of all attempted samples)", "up"),
    ("sun_complete", "S.U.N. % (complete binary subsystems, with E_hull)", "up"),
    ("ssun_paper", "S.S.U.N. % (paper denominator)", "up"),
    ("ssun_all", "S.S.U.N. % (of all attempted samples)", "up"),
]
METRIC_NAMES = {k: name for k, name, _ in METRICS}
PERCENT = {"validity", "uniqueness", "novelty", "wyckoff_uniqueness", "wyckoff_novelty", "charge_neutrality", "p1",
           "sun_paper", "sun_all", "sun_complete", "ssun_paper", "ssun_all"}
COUNTS = ["n_samples", "n_valid", "n_statistics", "n_structures", "n_unique", "n_novel", "n_e_hull",
          "n_e_hull_complete"]
STATISTICS_ON = ("wyckoff_novel", "structure_novel", "all")

_NAN = CI(float("nan"), float("nan"), float("nan"))

# Paper Table 1, MP-20 binary & ternary benchmark, as published (no intervals given).
PUBLISHED: dict[str, dict[str, float]] = {
    "WyckoffTransformer (paper, published)": dict(validity=97, novelty=89, charge_neutrality=79, sites_ks=0.052,
                                           elements_ks=0.030, dof_ks=0.056, p1=1, sg_chi2=0.063, el_chi2=0.019,
                                           sun_paper=38.7),
    "WyCryst (paper, published)": dict(validity=72, novelty=53, charge_neutrality=76, sites_ks=0.287, elements_ks=0.002,
                                dof_ks=0.282, p1=5, sg_chi2=0.82, el_chi2=0.140, sun_paper=36.7),
    "Test dataset (paper, published)": dict(novelty=100, charge_neutrality=90, sites_ks=0, elements_ks=0, dof_ks=0, p1=1,
                                     sg_chi2=0, el_chi2=0),
}


@dataclass
class Row:
    """One Table 1 row: metrics with intervals, counts and notes on the subsets used."""
    name: str
    source: str  # "computed" or "published"
    metrics: dict[str, CI]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> float:
        return self.metrics.get(key, _NAN).value


def published_rows() -> list[Row]:
    """The paper's binary+ternary rows as published, no intervals."""
    return [Row(name, "published", {k: CI(float(v), float("nan"), float("nan")) for k, v in vals.items()},
                notes=["as published in the paper's Table 1 (MP-20 binary & ternary); not recomputed"])
            for name, vals in PUBLISHED.items()]


@dataclass
class EvaluatedSet:
    """What is known about one set; see the module docstring for the two levels."""
    name: str
    representations: Sequence[WyckoffRepresentation | None]
    structures: Sequence | None = None  # pymatgen Structures (None = failed), one per sample sent to 3D
    structure_reps: Sequence[WyckoffRepresentation | None] | None = None  # sampled representation of each
    energies_per_atom: Sequence[float] | None = None  # CHGNet, eV/atom, NaN where missing
    e_hull: Sequence[float] | None = None  # eV/atom, NaN where missing; aligned with structures
    complete_binary: Sequence[bool] | None = None  # every binary subsystem has a reference compound
    n_reference_compounds: Sequence[int] | None = None  # reference compounds in the chemical system of each E_hull
    validity_applicable: bool = True
    statistics_on: str = "wyckoff_novel"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.statistics_on not in STATISTICS_ON:
            raise ValueError(f"statistics_on must be one of {STATISTICS_ON}, not {self.statistics_on!r}")
        n = None if self.structures is None else len(self.structures)
        for name in ("structure_reps", "energies_per_atom", "e_hull", "complete_binary", "n_reference_compounds"):
            v = getattr(self, name)
            if v is not None and (n is None or len(v) != n):
                raise ValueError(f"{name} needs structures of the same length")
        if self.structures is not None and self.structure_reps is None:
            raise ValueError("structures need structure_reps (the sampled representation of each)")
        if self.statistics_on == "structure_novel" and self.structures is None:
            raise ValueError("statistics_on='structure_novel' needs structures")


# ----------------------------------------------------------------------------- references
@dataclass
class References:
    """The test split (representations) and the train+val references (representations + CIFs)."""
    test: list[WyckoffRepresentation]
    train_val: list[WyckoffRepresentation]
    train_val_frame: pd.DataFrame  # material_id, reduced_formula, cif
    test_frame: pd.DataFrame | None = None  # material_id, reduced_formula, cif of the tokenized test structures

    def __post_init__(self) -> None:
        if not self.test:
            raise ValueError("the test split is empty")
        self.canonical_train_val = {r.canonical() for r in self.train_val}
        self.test_table = wyckoff_table(self.test)
        self.test_elements, fractions = _element_matrix(self.test_table.composition)
        self.test_element_counts = fractions.sum(0)


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    from pymatgen.core import Composition
    formulas = [Composition(f).reduced_formula for f in frame["pretty_formula"]] if "pretty_formula" in frame \
        else [None] * len(frame)
    return pd.DataFrame({"material_id": frame["material_id"].astype(str).values, "reduced_formula": formulas,
                         "cif": frame["cif"].values})


def load_references(dataset: str, max_structures: int | None = None, n_jobs: int = 2) -> References:
    """Tokenized test and train+val splits of a data set (cached by `wylib.data`), plus their CIFs."""
    from wylib.data import load_split, tokenize_split

    parts = {s: tokenize_split(dataset, s, n_jobs=n_jobs, max_structures=max_structures)
             for s in ("train", "val", "test")}
    frames = {s: load_split(dataset, s) for s in parts}
    if max_structures is not None:
        frames = {s: f.iloc[:max_structures] for s, f in frames.items()}
    test = _frame(frames["test"]).set_index("material_id").loc[parts["test"].material_ids].reset_index()
    return References(parts["test"].representations, parts["train"].representations + parts["val"].representations,
                      pd.concat([_frame(frames["train"]), _frame(frames["val"])], ignore_index=True), test)


def reference_structures(refs: References, formulas: set[str], n_jobs: int = 2) -> list:
    """Parsed train+val structures whose reduced formula is in `formulas` (all of them if formulas are unknown)."""
    from wylib.data import parse_structures

    f = refs.train_val_frame
    sub = f if f["reduced_formula"].isna().any() else f[f["reduced_formula"].isin(formulas)]
    return parse_structures(list(sub["cif"]), n_jobs=n_jobs)[0] if len(sub) else []


def structure_novelty(structures: Sequence, refs: References, n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(unique, novel) masks: StructureMatcher within the set and against train+val; None -> False, False."""
    formulas = {s.composition.reduced_formula for s in structures if s is not None}
    unique = uniqueness_mask(structures, n_jobs=n_jobs)
    novel = novelty_mask(structures, reference_structures(refs, formulas, n_jobs), n_jobs=n_jobs)
    return unique, novel


def hull_columns(structures: Sequence, energies_per_atom: Sequence[float | None]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """(E_hull, n_reference_compounds, complete_binary_subsystems, reason) from `wylib.hull`.

    All NaN / 0 / False plus a reason when no hull exists."""
    n = len(structures)
    try:
        from wylib.hull import default_hull, e_above_hull_table
        hull = default_hull()
    except Exception as err:  # noqa: BLE001 - a missing reference table must not stop the evaluation
        return np.full(n, np.nan), np.zeros(n, int), np.zeros(n, bool), f"no convex hull: {type(err).__name__}: {err}"
    comps = [s.composition if s is not None else "" for s in structures]
    energies = [e if s is not None and e is not None else float("nan") for s, e in zip(structures, energies_per_atom)]
    t = e_above_hull_table(comps, energies, hull)
    return (t["e_hull"].to_numpy(float), t["n_reference_compounds"].to_numpy(int),
            t["complete_binary_subsystems"].to_numpy(bool), None)


def attach_hull(s: EvaluatedSet) -> str | None:
    """Fill ``s.e_hull`` / ``s.complete_binary`` from its structures and energies; returns the reason if impossible."""
    if s.structures is None or s.energies_per_atom is None:
        return "no relaxed structures with energies"
    s.e_hull, s.n_reference_compounds, s.complete_binary, reason = hull_columns(s.structures, s.energies_per_atom)
    if reason:
        s.notes.append(f"E_hull: {reason}")
    return reason


# ----------------------------------------------------------------------------- generated set on disk
SAMPLE_FILES = ("samples.jsonl", "samples.jsonl.gz", "sequences.jsonl", "sequences.jsonl.gz")


def _read_jsonl(path: Path) -> list[dict]:
    import gzip
    import json

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _rep(d: dict | None) -> WyckoffRepresentation | None:
    return WyckoffRepresentation.from_dict(d) if isinstance(d, dict) and "sites" in d else None


def read_generated(gen_dir: str | Path, name: str = "WyckoffTransformer (this repo)") -> tuple[EvaluatedSet | None, list[str]]:
    """The generated set written by notebook 04, and what was found (one line per finding).

    Reads ``samples.jsonl[.gz]`` (or ``sequences...``): one record per sampled sequence with
    ``representation`` (a `WyckoffRepresentation` dict, None if invalid; `SampleResult.records`),
    and ``generated.jsonl`` (`wylib.generated` table: sampled representation in ``tokens`` or
    ``pyxtal_args``, relaxed ``structure``, ``energy_per_atom``). Either may be missing; with
    neither, returns (None, reasons). E_hull is not computed here (see `hull_columns`).
    """
    from pymatgen.core import Structure

    gen_dir = Path(gen_dir)
    found: list[str] = []
    reps, validity_known = None, True
    sample_file = next((gen_dir / f for f in SAMPLE_FILES if (gen_dir / f).exists()), None)
    if sample_file is not None:
        reps = [_rep(r.get("representation")) for r in _read_jsonl(sample_file)]
        found.append(f"{sample_file.name}: {len(reps)} sampled sequences, {sum(r is not None for r in reps)} valid")
    else:
        found.append(f"no sampled sequences ({' / '.join(SAMPLE_FILES)}) in {gen_dir}")
    table_file = gen_dir / "generated.jsonl"
    structures = structure_reps = None
    t = None
    if table_file.exists():
        from wylib.generated import load_table

        t = load_table(table_file)
        if len(t) == 0:
            found.append("generated.jsonl is empty: no samples were sent to 3D")
            t = None
    if t is not None:
        structure_reps = [_rep(tok) or (WyckoffRepresentation.from_pyxtal_args(a) if isinstance(a, dict) else None)
                          for tok, a in zip(t["tokens"], t["pyxtal_args"])]
        structures = [Structure.from_dict(d) if isinstance(d, dict) else None for d in t["structure"]]
        energies = [float(e) if e is not None and e == e else float("nan") for e in t["energy_per_atom"]]
        found.append(f"generated.jsonl: {len(t)} samples sent to 3D, {sum(x is not None for x in structures)} "
                     f"relaxed structures; flags {t['flag'].value_counts().to_dict()}")
    elif not table_file.exists():
        found.append(f"no relaxed structures (generated.jsonl) in {gen_dir}")
    if reps is None and structure_reps is not None:
        reps, validity_known = list(structure_reps), False
        found.append("Wyckoff-level metrics from the representations of generated.jsonl (validity unknown)")
    if reps is None:
        return None, found
    return EvaluatedSet(name, reps, structures, structure_reps, energies if structures is not None else None,
                        validity_applicable=validity_known), found


# ----------------------------------------------------------------------------- Wyckoff-level table
MAX_OXIDATION_COMBINATIONS = 100_000  # SMACT tries every combination of oxidation states; beyond this: not checked


@lru_cache(maxsize=None)
def _n_oxidation_states(symbol: str) -> int:
    import smact
    try:
        return len(smact.Element(symbol).oxidation_states or [])
    except KeyError:
        return 0


def oxidation_combinations(composition) -> int | None:
    """Oxidation-state combinations SMACT would try for a composition; None if it passes without (one element, all metals)."""
    import smact
    symbols = [el.symbol for el in composition]
    if len(symbols) == 1 or all(x in smact.metals for x in symbols):
        return None
    return int(np.prod([_n_oxidation_states(x) for x in symbols], dtype=float))


def charge_neutral(composition) -> bool | None:
    """`smact_valid`, or None (not checked, counted as not neutral) when SMACT would need more than
    MAX_OXIDATION_COMBINATIONS combinations (random many-element compositions: the check would run for hours)."""
    n = oxidation_combinations(composition)
    if n is not None and n > MAX_OXIDATION_COMBINATIONS:
        return None
    try:
        return smact_valid(composition)
    except (ValueError, KeyError):
        return False


def wyckoff_table(reps: Sequence[WyckoffRepresentation | None],
                  canonical_reference: set | None = None) -> pd.DataFrame:
    """One row per sample: valid, spacegroup, n_sites, n_elements, dof, composition (reduced formula),
    charge_neutral, wyckoff_unique (first of its canonical class), wyckoff_novel (class absent from the reference)."""
    rows, seen = [], set()
    for r in reps:
        if r is None:
            rows.append(dict(valid=False, spacegroup=0, n_sites=0, n_elements=0, dof=0, composition=None,
                             charge_neutral=False, wyckoff_unique=False, wyckoff_novel=False))
            continue
        key = r.canonical()
        comp = r.composition
        neutral = charge_neutral(comp)
        rows.append(dict(valid=True, spacegroup=r.spacegroup, n_sites=r.n_sites, n_elements=r.n_elements, dof=r.dof,
                         composition=comp.reduced_formula, charge_neutral=neutral, wyckoff_unique=key not in seen,
                         wyckoff_novel=canonical_reference is None or key not in canonical_reference))
        seen.add(key)
    cols = ["valid", "spacegroup", "n_sites", "n_elements", "dof", "composition", "charge_neutral",
            "wyckoff_unique", "wyckoff_novel"]
    return pd.DataFrame(rows, columns=cols)


def _element_matrix(formulas: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(elements, matrix of atomic fractions: one row per formula)."""
    from pymatgen.core import Composition

    comps = [Composition(f) for f in formulas]
    elements = sorted({el.symbol for c in comps for el in c})
    col = {e: i for i, e in enumerate(elements)}
    m = np.zeros((len(comps), len(elements)))
    for i, c in enumerate(comps):
        for el in c:
            m[i, col[el.symbol]] = c.get_atomic_fraction(el)
    return elements, m


# ----------------------------------------------------------------------------- one row
def _ci(stat: Callable[[np.ndarray], float], n: int, n_bootstrap: int, seed: int) -> CI:
    """Point value and percentile interval of stat(indices) over n items resampled with replacement."""
    if n == 0:
        return _NAN
    return bootstrap_ci(stat, np.arange(n), n_boot=n_bootstrap, seed=seed)


def _mean_pct(flags: np.ndarray, scale: float = 1.0) -> Callable[[np.ndarray], float]:
    return lambda idx: 100.0 * scale * float(np.mean(flags[idx])) if len(idx) else float("nan")


def evaluate_set(s: EvaluatedSet, refs: References, *, n_bootstrap: int = 1000, seed: int = 0,
                 e_hull_threshold: float = STABILITY_THRESHOLD, n_jobs: int = 1,
                 masks: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Row, pd.DataFrame]:
    """Metrics of one set against the test split and train+val; returns (row, per-sample table).

    ``masks``: precomputed (unique, novel) structure masks (else computed with StructureMatcher).
    Each metric gets its own bootstrap seed (seed + position in METRICS), so same seed -> same row.
    """
    seeds = {k: seed + i for i, (k, _, _) in enumerate(METRICS)}
    m: dict[str, CI] = {k: _NAN for k, _, _ in METRICS}
    notes = list(s.notes)
    w = wyckoff_table(s.representations, refs.canonical_train_val)
    w.insert(0, "level", "sample")
    valid = w["valid"].to_numpy(bool)
    validity = float(valid.mean()) if len(w) else float("nan")
    if s.validity_applicable:
        m["validity"] = _ci(_mean_pct(valid), len(w), n_bootstrap, seeds["validity"])
    else:
        notes.append("formal validity: not applicable (only valid representations are known)")
    vw = w[valid]
    m["wyckoff_uniqueness"] = _ci(_mean_pct(vw["wyckoff_unique"].to_numpy(bool)), len(vw), n_bootstrap,
                                  seeds["wyckoff_uniqueness"])
    uw = vw[vw["wyckoff_unique"]]
    m["wyckoff_novelty"] = _ci(_mean_pct(uw["wyckoff_novel"].to_numpy(bool)), len(uw), n_bootstrap,
                               seeds["wyckoff_novelty"])

    # ---- structure level
    st = None
    if s.structures is not None:
        unique, novel = masks if masks is not None else structure_novelty(s.structures, refs, n_jobs)
        e = np.full(len(s.structures), np.nan) if s.e_hull is None else np.asarray(s.e_hull, float)
        complete = np.zeros(len(e), bool) if s.complete_binary is None else np.asarray(s.complete_binary, bool)
        n_refs = (np.full(len(e), -1) if s.n_reference_compounds is None
                  else np.asarray(s.n_reference_compounds, int))
        sg = np.array([r.spacegroup if r is not None else 0 for r in s.structure_reps])
        built = np.array([x is not None for x in s.structures])
        sun = sun_mask(unique, novel, e, e_hull_threshold)
        st = pd.DataFrame(dict(level="structure", built=built, spacegroup=sg, unique=unique, novel=novel, e_hull=e,
                               n_reference_compounds=n_refs, complete_binary_subsystems=complete, sun=sun, ssun=sun & (sg != 1)))
        m["uniqueness"] = _ci(_mean_pct(unique[built]), int(built.sum()), n_bootstrap, seeds["uniqueness"])
        m["novelty"] = _ci(_mean_pct(novel[unique]), int(unique.sum()), n_bootstrap, seeds["novelty"])
        has_e = np.isfinite(e)
        v_all = validity if s.validity_applicable else 1.0
        if has_e.any():
            for key, flags in (("sun", sun), ("ssun", sun & (sg != 1))):
                m[f"{key}_paper"] = _ci(_mean_pct(flags[has_e]), int(has_e.sum()), n_bootstrap, seeds[f"{key}_paper"])
                m[f"{key}_all"] = _ci(_mean_pct(flags, v_all), len(flags), n_bootstrap, seeds[f"{key}_all"])
            sel = has_e & complete
            m["sun_complete"] = _ci(_mean_pct(sun[sel]), int(sel.sum()), n_bootstrap, seeds["sun_complete"])
        else:
            notes.append("S.U.N./S.S.U.N.: NaN, no E_hull values for this set")
        notes.append(f"structures: {len(e)} records, {int(built.sum())} with a structure, {int(has_e.sum())} with E_hull"
                     + (f" (threshold {e_hull_threshold} eV/atom); S.U.N. 'all attempted' = S.U.N. count / records "
                        f"x formal validity ({100 * v_all:.1f} %)" if has_e.any() else ""))
    else:
        notes.append("uniqueness/novelty (structures), S.U.N., S.S.U.N.: NaN, no 3D structures for this set")

    # ---- statistics subset
    if s.statistics_on == "structure_novel":
        keep = st["unique"].to_numpy(bool) & st["novel"].to_numpy(bool) & np.array([r is not None for r in s.structure_reps])
        stat_reps = [r for r, k in zip(s.structure_reps, keep) if k]
        what = "sampled representations of the unique, novel structures"
        st["in_statistics"], w["in_statistics"] = keep, False
    else:
        keep = valid if s.statistics_on == "all" else \
            valid & w["wyckoff_unique"].to_numpy(bool) & w["wyckoff_novel"].to_numpy(bool)
        stat_reps = None  # the rows of w already hold their statistics
        what = ("every valid representation (no uniqueness/novelty filter)" if s.statistics_on == "all"
                else "valid, Wyckoff-unique, Wyckoff-novel sampled representations")
        w["in_statistics"] = keep
        if st is not None:
            st["in_statistics"] = False
    t = wyckoff_table(stat_reps) if stat_reps is not None else w[keep].reset_index(drop=True)
    notes.append(f"statistics (charge neutrality, KS, P1, chi2) on {len(t)} {what}")
    ref = refs.test_table
    n = len(t)
    for key, col in (("sites_ks", "n_sites"), ("elements_ks", "n_elements"), ("dof_ks", "dof")):
        a, b = t[col].to_numpy(float), ref[col].to_numpy(float)
        m[key] = _ci(lambda idx, a=a, b=b: ks_statistic(a[idx], b), n, n_bootstrap, seeds[key])
    unchecked = int(t["charge_neutral"].isna().sum())
    if unchecked:
        notes.append(f"charge neutrality: {unchecked} compositions with more than {MAX_OXIDATION_COMBINATIONS} "
                     "oxidation-state combinations not checked, counted as not neutral")
    m["charge_neutrality"] = _ci(_mean_pct(t["charge_neutral"].eq(True).to_numpy(bool)), n, n_bootstrap,
                                 seeds["charge_neutrality"])
    g = t["spacegroup"].to_numpy(int)
    m["p1"] = _ci(_mean_pct(g == 1), n, n_bootstrap, seeds["p1"])
    test_sg = dict(enumerate(np.bincount(ref["spacegroup"].to_numpy(int), minlength=231)))
    elements, fractions = _element_matrix(t["composition"]) if n else ([], np.zeros((0, 0)))
    test_el = dict(zip(refs.test_elements, refs.test_element_counts))
    for corrected, suffix in ((False, ""), (True, "_corrected")):
        def sg_stat(idx, c=corrected):
            return chi2_statistic(dict(enumerate(np.bincount(g[idx], minlength=231))), test_sg, c).value

        def el_stat(idx, c=corrected):
            return chi2_statistic(dict(zip(elements, fractions[idx].sum(0))), test_el, c).value
        m["sg_chi2" + suffix] = _ci(sg_stat, n, n_bootstrap, seeds["sg_chi2" + suffix])
        m["el_chi2" + suffix] = _ci(el_stat, n, n_bootstrap, seeds["el_chi2" + suffix])
    if n:
        for key, res in (("space groups", chi2_statistic(dict(enumerate(np.bincount(g, minlength=231))), test_sg)),
                         ("elements", chi2_statistic(dict(zip(elements, fractions.sum(0))), test_el))):
            if res.dropped:
                notes.append(f"paper-style chi2 dropped {len(res.dropped)} {key} absent from the test split "
                             f"({100 * res.dropped_mass:.1f} % of the set's mass): {', '.join(map(str, res.dropped[:10]))}"
                             + (" ..." if len(res.dropped) > 10 else ""))

    counts = dict(n_samples=len(w), n_valid=int(valid.sum()), n_statistics=n,
                  n_structures=0 if st is None else int(st["built"].sum()),
                  n_unique=0 if st is None else int(st["unique"].sum()),
                  n_novel=0 if st is None else int((st["unique"] & st["novel"]).sum()),
                  n_e_hull=0 if st is None else int(np.isfinite(st["e_hull"]).sum()),
                  n_e_hull_complete=0 if st is None else int((np.isfinite(st["e_hull"])
                                                              & st["complete_binary_subsystems"]).sum()))
    details = pd.concat([w.reset_index(names="index")] + ([] if st is None else [st.reset_index(names="index")]),
                        ignore_index=True)
    details.insert(0, "set", s.name)
    return Row(s.name, "computed", m, counts, notes), details


# ----------------------------------------------------------------------------- the table
def table1(rows: Sequence[Row]) -> pd.DataFrame:
    """Wide table, one line per row: name, source, <metric>, <metric>_low, <metric>_high, counts, notes."""
    out = []
    for r in rows:
        d: dict = {"row": r.name, "source": r.source}
        for k, _, _ in METRICS:
            ci = r.metrics.get(k, _NAN)
            d[k], d[f"{k}_low"], d[f"{k}_high"] = ci.value, ci.low, ci.high
        d.update({c: r.counts.get(c) for c in COUNTS})
        d["notes"] = " | ".join(r.notes)
        out.append(d)
    return pd.DataFrame(out)


def _fmt(value: float, low: float, high: float, key: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    digits = 1 if key in PERCENT else 3
    s = f"{value:.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        s += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return s


def to_markdown(table: pd.DataFrame) -> str:
    """Paper layout (metrics down, sets across), "value [2.5 %, 97.5 %]", then numbered notes per set."""
    header = ["Metric"] + list(table["row"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for k, name, better in METRICS:
        arrow = {"up": " ↑", "down": " ↓"}.get(better, "")
        cells = [_fmt(row[k], row[f"{k}_low"], row[f"{k}_high"], k) for _, row in table.iterrows()]
        lines.append(f"| {name}{arrow} | " + " | ".join(cells) + " |")
    for c in COUNTS:
        cells = ["–" if row["source"] == "published" or pd.isna(row[c]) else str(int(row[c]))
                 for _, row in table.iterrows()]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "Intervals: percentile bootstrap, 95 %, resampling the evaluated set (the test split is fixed). "
              "KS and chi2 are distances: resampled sets sit farther from the test split than the set itself, so their "
              "interval can lie above the point value; it shows the spread at this sample size. "
              "'–': not available (reason in the notes).", ""]
    for _, row in table.iterrows():
        if row["notes"]:
            lines.append(f"- **{row['row']}**: " + "; ".join(row["notes"].split(" | ")))
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``table1.csv`` and ``table1.md`` into `results_dir`; returns both paths."""
    d = Path(results_dir)
    d.mkdir(parents=True, exist_ok=True)
    csv, md = d / "table1.csv", d / "table1.md"
    table.to_csv(csv, index=False)
    md.write_text(to_markdown(table))
    return csv, md


def compare(ours: Row, other: Row, ours_test: Row | None = None, other_test: Row | None = None) -> list[str]:
    """One sentence per metric both rows have: our value and interval, the other row's value, and which is better.

    "Inside" means within our interval widened to include our point value (for distances such as KS and chi2
    the resampled values lie above the point value, so the plain percentile interval can exclude it).
    Metrics without a direction (charge neutrality, P1) are compared by distance to the test split
    (ours to ``ours_test``, the other to ``other_test``) when both test rows are given.
    """
    out = []
    for k, name, better in METRICS:
        a, b = ours.metrics.get(k, _NAN), other.metrics.get(k, _NAN)
        if not (np.isfinite(a.value) and np.isfinite(b.value)):
            continue
        lo, hi = min(a.low, a.value), max(a.high, a.value)
        inside = np.isfinite(a.low) and lo <= b.value <= hi
        s = (f"{name}: {a.value:.4g} [{a.low:.4g}, {a.high:.4g}] for {ours.name} vs {b.value:.4g} for {other.name}; "
             + ("within" if inside else "outside") + " our interval")
        if better == "test" and ours_test is not None and other_test is not None:
            ta, tb = ours_test.value(k), other_test.value(k)
            if np.isfinite(ta) and np.isfinite(tb):
                da, db = abs(a.value - ta), abs(b.value - tb)
                verdict = "equally close" if math.isclose(da, db, abs_tol=1e-9) else ("closer" if da < db else "farther")
                s += f"; distance to its test split {da:.3g} vs {db:.3g} ({verdict} for {ours.name})"
        elif better in ("up", "down") and not inside:
            ok = a.value > b.value if better == "up" else a.value < b.value
            s += f" ({'better' if ok else 'worse'} for {ours.name})"
        out.append(s + ".")
    return out
