"""Table 1: one row of metrics per evaluated set, with bootstrap 95 % intervals (percentages on a 0-100 scale).

An `EvaluatedSet` has a Wyckoff level (every attempted sample) and a structure level (the samples sent to 3D);
its statistics are taken on the subset `statistics_on` names. Rows are addressed by id (`ROW_LABELS` gives their
display labels); the published rows come from `wylib.paper`, the files and sentences from `wylib.report`.
What each metric measures, and the paper-style vs corrected variants: docs/metrics.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from wylib import metrics, paper
from wylib.constants import STABILITY_THRESHOLD
from wylib.data import load_split, parse_structures, tokenize_split
from wylib.generated import find_samples, load_table, read_samples, structures as table_structures
from wylib.hull import default_hull, e_above_hull_table
from wylib.metrics import CI, bootstrap_ci
from wylib.metrics.chemistry import MAX_OXIDATION_COMBINATIONS
from wylib.metrics.stability import sun_mask
from wylib.release import load_genes, load_relaxed
from wylib.tokens import WyckoffRepresentation

# key, display name, better ("up", "down", or "test": closer to the test split)
METRICS: list[tuple[str, str, str]] = [
    ("validity", "Formal validity %", "up"),
    ("uniqueness", "Uniqueness % (structures)", "up"),
    ("novelty", "Novelty % (structures)", "up"),
    ("wyckoff_uniqueness", "Wyckoff uniqueness % (extra)", "up"),
    ("wyckoff_novelty", "Wyckoff novelty % (extra)", "up"),
    ("charge_neutrality", "Charge neutrality % (paper: SMACT 2014 oxidation states)", "test"),
    ("charge_neutrality_smact4", "Charge neutrality % (extra: SMACT 4 oxidation states)", "test"),
    ("sites_ks", "Num sites KS", "down"),
    ("elements_ks", "Num elements KS", "down"),
    ("dof_ks", "DoF KS", "down"),
    ("p1", "P1 %", "test"),
    ("sg_chi2", "Space group chi2 (paper: test-absent groups dropped, rest renormalized)", "down"),
    ("sg_chi2_corrected", "Space group chi2 (corrected: smoothed over all 230 groups)", "down"),
    ("el_chi2", "Elements chi2 (paper: test-absent elements dropped, rest renormalized)", "down"),
    ("el_chi2_corrected", "Elements chi2 (corrected: smoothed over the 89 MP elements)", "down"),
    ("sun_paper", "S.U.N. % (paper: of structures with E_hull)", "up"),
    ("sun_all", "S.U.N. % (of all attempted samples)", "up"),
    ("sun_complete", "S.U.N. % (complete binary subsystems, with E_hull)", "up"),
    ("ssun_paper", "S.S.U.N. % (paper denominator)", "up"),
    ("ssun_all", "S.S.U.N. % (of all attempted samples)", "up"),
    ("complete_systems", "E_hull in systems with complete binary subsystems % (extra)", "up"),
]
METRIC_NAMES = {k: name for k, name, _ in METRICS}
# How each metric's value arises, for our model as notebook 04 samples it (runs/default) and for the authors':
# learned by the model; drawn from a prior (not the model); enforced by the sampler; or set by build, relaxation, hull
_PRIOR = ("prior: space group drawn from train+val", "prior: space group drawn from their training split")
_SUN = ("learned; build, relaxation, hull", "learned; their build and relaxation, our hull")
CONSTRUCTION: dict[str, tuple[str, str]] = {
    "validity": ("learned, with the Wyckoff tables fed to the model; free decoding", "learned; free decoding"),
    "elements_ks": ("enforced: count drawn from P(count | group), then masked", "learned"),
    **{k: _PRIOR for k in ("p1", "sg_chi2", "sg_chi2_corrected")},
    **{k: _SUN for k in ("sun_paper", "sun_all", "sun_complete", "ssun_paper", "ssun_all")},
    "complete_systems": ("hull coverage", "hull coverage"),
}
CONSTRUCTION.update({k: ("learned", "learned") for k, _, _ in METRICS if k not in CONSTRUCTION})

PERCENT = {k for k, name, _ in METRICS if "%" in name}  # metrics on a 0-100 scale
COUNTS = "n_samples n_valid n_statistics n_structures n_unique n_novel n_e_hull n_e_hull_complete".split()
STATISTICS_ON = ("wyckoff_novel", "structure_novel", "all")

_NAN = CI(float("nan"), float("nan"), float("nan"))

# The Table 1 rows the study knows: id -> display label (the row name in table1.csv / .md)
ROW_LABELS: dict[str, str] = {
    "ours": "WyckoffTransformer (this repo)",
    "authors_our_protocol": "WyFormer genes, 2-3 el., this repo's protocol",
    "authors_our_protocol_all": "WyFormer genes, all chemistries, this repo's protocol",
    "authors_genes": "WyFormer genes, 2-3 el. (authors' model)",
    "authors_genes_all": "WyFormer genes, all chemistries (authors' model)",
    "authors_relaxed": "WyFormer relaxed, 2-3 el. (authors' model and protocol)",
    "authors_relaxed_all": "WyFormer relaxed, all 999 (authors' model and protocol)",
    "test": "Test split (this repo)",
    "baseline": "Marginal baseline (no learning)",
    "ours_seeds": "WyckoffTransformer (this repo), mean over sampling seeds",
    "paper_wyformer": "WyckoffTransformer (paper as published: their data; their hull and protocol)",
    "paper_wycryst": "WyCryst (paper as published: their data; their hull and protocol)",
    "paper_test": "Test dataset (paper as published: their test split)",
}


def label(row_id: str) -> str:
    """Display label of a row id (`ROW_LABELS`; the id itself for ids outside it)."""
    return ROW_LABELS.get(row_id, row_id)


@dataclass
class Row:
    """One Table 1 row: metrics with intervals, counts and notes on the subsets used."""

    id: str
    source: str  # "computed", "published" or "missing"
    metrics: dict[str, CI]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    name: str = ""  # display label; default `label(id)`
    statistics: pd.DataFrame | None = field(default=None, repr=False)  # rows the KS/chi2/P1/charge are taken on

    def __post_init__(self) -> None:
        self.name = self.name or label(self.id)

    def value(self, key: str) -> float:
        return self.metrics.get(key, _NAN).value


def published_rows() -> list[Row]:
    """The paper's rows as published (`wylib.paper.TABLE1`), no intervals."""
    note = "as published in the paper's Table 1 (MP-20 binary & ternary); not recomputed"
    nan = float("nan")
    return [
        Row(i, "published", {k: CI(float(v), nan, nan) for k, v in vals.items()}, notes=[note])
        for i, vals in paper.TABLE1.items()
    ]


@dataclass
class EvaluatedSet:
    """One set at the Wyckoff level and, with ``structures``, at the structure level (docs/metrics.md)."""

    id: str
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
    name: str = ""  # display label; default `label(id)`

    def __post_init__(self) -> None:
        self.name = self.name or label(self.id)
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
    """material_id, reduced_formula (None without ``pretty_formula``), cif."""
    formulas = frame["pretty_formula"] if "pretty_formula" in frame else [None] * len(frame)
    return pd.DataFrame(
        {
            "material_id": frame["material_id"].astype(str).values,
            "reduced_formula": [None if f is None else Composition(f).reduced_formula for f in formulas],
            "cif": frame["cif"].values,
        }
    )


def load_references(dataset: str, max_structures: int | None = None, n_jobs: int = 2) -> References:
    """Tokenized test and train+val splits of a data set (cached by `wylib.data`), plus their CIFs."""
    parts = {
        s: tokenize_split(dataset, s, n_jobs=n_jobs, max_structures=max_structures) for s in ("train", "val", "test")
    }
    frames = {s: load_split(dataset, s) for s in parts}
    if max_structures is not None:
        frames = {s: f.iloc[:max_structures] for s, f in frames.items()}
    test = _frame(frames["test"]).set_index("material_id").loc[parts["test"].material_ids].reset_index()
    return References(
        parts["test"].representations,
        parts["train"].representations + parts["val"].representations,
        pd.concat([_frame(frames["train"]), _frame(frames["val"])], ignore_index=True),
        test,
    )


def reference_structures(frame: pd.DataFrame, formulas: set[str], n_jobs: int = 2) -> list:
    """Parsed CIFs of the rows of `frame` whose ``reduced_formula`` is in `formulas` or unknown."""
    sub = frame[frame["reduced_formula"].isin(formulas) | frame["reduced_formula"].isna()]
    return parse_structures(list(sub["cif"]), n_jobs=n_jobs)[0] if len(sub) else []


def structure_novelty(structures: Sequence, refs: References, n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(unique, novel) masks: StructureMatcher within the set and against train+val; None -> False, False."""
    formulas = {s.composition.reduced_formula for s in structures if s is not None}
    unique = metrics.uniqueness_mask(structures, n_jobs=n_jobs)
    novel = metrics.novelty_mask(
        structures, reference_structures(refs.train_val_frame, formulas, n_jobs), n_jobs=n_jobs
    )
    return unique, novel


def hull_columns(
    structures: Sequence, energies_per_atom: Sequence[float | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """(E_hull, n_reference_compounds, complete_binary_subsystems, reason); NaN / 0 / False + reason without a hull."""
    n = len(structures)
    try:
        hull = default_hull()
    except Exception as err:  # noqa: BLE001 - a missing reference table must not stop the evaluation
        return np.full(n, np.nan), np.zeros(n, int), np.zeros(n, bool), f"no convex hull: {type(err).__name__}: {err}"
    comps = [s.composition if s is not None else "" for s in structures]
    energies = [
        e if s is not None and e is not None else float("nan")
        for s, e in zip(structures, energies_per_atom, strict=True)
    ]
    t = e_above_hull_table(comps, energies, hull)
    return (
        t["e_hull"].to_numpy(float),
        t["n_reference_compounds"].to_numpy(int),
        t["complete_binary_subsystems"].to_numpy(bool),
        None,
    )


def attach_hull(s: EvaluatedSet) -> str | None:
    """Fill the hull columns of `s` from its structures and energies; returns the reason if impossible."""
    if s.structures is None or s.energies_per_atom is None:
        return "no relaxed structures with energies"
    s.e_hull, s.n_reference_compounds, s.complete_binary, reason = hull_columns(s.structures, s.energies_per_atom)
    if reason:
        s.notes.append(f"E_hull: {reason}")
    return reason


def read_generated(gen_dir: str | Path, set_id: str = "ours", name: str = "") -> tuple[EvaluatedSet | None, list[str]]:
    """The set notebook 04 wrote (sampled sequences and/or ``generated.jsonl``), and one line per finding.

    (None, findings) when neither file is there; E_hull is attached by `attach_hull`."""
    gen_dir = Path(gen_dir)
    found: list[str] = []
    reps, validity_known = None, True
    sample_file = find_samples(gen_dir)
    if sample_file is not None:
        reps = read_samples(sample_file)
        found.append(f"{sample_file.name}: {len(reps)} sampled sequences, {sum(r is not None for r in reps)} valid")
    else:
        found.append(f"no sampled sequences (samples.jsonl) in {gen_dir}")
    structure_reps, structures, energies = _relaxed_table(gen_dir / "generated.jsonl", found) or (None, None, None)
    if reps is None and structure_reps is not None:
        reps, validity_known = list(structure_reps), False
        found.append("Wyckoff-level metrics from the representations of generated.jsonl (validity unknown)")
    if reps is None:
        return None, found
    s = EvaluatedSet(set_id, reps, structures, structure_reps, energies, validity_applicable=validity_known, name=name)
    return s, found


def _relaxed_table(path: Path, found: list[str]) -> tuple[list, list, list[float]] | None:
    """(structure_reps, structures, energies) of a generated table, or None (reason in `found`)."""
    if not path.exists():
        found.append(f"no relaxed structures ({path.name}) in {path.parent}")
        return None
    t = load_table(path)
    if len(t) == 0:
        found.append(f"{path.name} is empty: no samples were sent to 3D")
        return None
    reps = [
        _rep(tok) or (WyckoffRepresentation.from_pyxtal_args(a) if isinstance(a, dict) else None)
        for tok, a in zip(t["tokens"], t["pyxtal_args"], strict=True)
    ]
    structs = table_structures(t)
    energies = [float(e) if e is not None and e == e else float("nan") for e in t["energy_per_atom"]]
    found.append(
        f"{path.name}: {len(t)} samples sent to 3D, {sum(x is not None for x in structs)} "
        f"relaxed structures; flags {t['flag'].value_counts().to_dict()}"
    )
    return reps, structs, energies


def _rep(d: dict | None) -> WyckoffRepresentation | None:
    return WyckoffRepresentation.from_dict(d) if isinstance(d, dict) and "sites" in d else None


def authors_elements(dataset: str) -> tuple[int, ...] | None:
    """Which of the authors' samples compare with a benchmark: 2-3 elements, or all for the full MP-20."""
    return None if dataset == "mp_20" else (2, 3)


def release_gene_set(n_elements: Sequence[int] | None = (2, 3), name: str = "") -> EvaluatedSet:
    """The authors' released genes (2-3 elements; ``None``: all), Wyckoff level, validity not applicable."""
    genes = load_genes(n_elements)
    n_bad = int(genes["representation"].isna().sum())
    which = "with 2-3 distinct elements" if n_elements is not None else "(all chemistries)"
    notes = [f"the {len(genes)} of the authors' 10k released genes (their model trained on full MP-20) {which}"]
    if n_bad:
        notes.append(f"{n_bad} genes without a representation under this repo's Wyckoff tables, left out")
    reps = [r for r in genes["representation"] if r is not None]
    set_id = "authors_genes" if n_elements is not None else "authors_genes_all"
    return EvaluatedSet(set_id, reps, validity_applicable=False, notes=notes, name=name)


def release_relaxed_set(n_elements: Sequence[int] | None = (2, 3), name: str = "") -> EvaluatedSet:
    """The authors' released CHGNet-relaxed samples with their energies (E_hull: `attach_hull`, on our hull)."""
    t = load_relaxed(n_elements)
    which = "with 2-3 distinct elements" if n_elements is not None else "(all chemistries)"
    notes = [
        f"{len(t)} of the authors' 999 released relaxed samples {which}: several pyXtal trials per gene, CHGNet "
        "relaxation keeping the Wyckoff positions, lowest energy kept (their protocol); E_hull from their "
        "CHGNet energies on this repo's hull; novelty against this repo's train+val, which holds none of "
        "the authors' ~27k MP-20 training structures, so their novelty is an upper bound"
    ]
    bad = t["reason"].notna().sum()
    if bad:
        notes.append(f"{bad} rows unreadable: {t['reason'].dropna().iloc[0]}")
    reps = list(t["representation"])
    return EvaluatedSet(
        "authors_relaxed" if n_elements is not None else "authors_relaxed_all",
        reps,
        list(t["structure"]),
        reps,
        list(t["energy_per_atom"]),
        validity_applicable=False,
        statistics_on="structure_novel",
        notes=notes,
        name=name,
    )


WYCKOFF_COLUMNS = (
    "valid spacegroup n_sites n_elements dof composition charge_neutral charge_neutral_smact4 "
    "wyckoff_unique wyckoff_novel"
).split()
_INVALID = (False, 0, 0, 0, 0, None, False, False, False, False)  # the row of an invalid sample


def wyckoff_table(reps: Sequence[WyckoffRepresentation | None], canonical_reference: set | None = None) -> pd.DataFrame:
    """One row per sample (`WYCKOFF_COLUMNS`); charge_neutral None = not checked, wyckoff_unique = first of its
    canonical class, wyckoff_novel = class absent from `canonical_reference`."""
    rows, seen = [], set()
    for r in reps:
        if r is None:
            rows.append(_INVALID)
            continue
        key = r.canonical()
        comp = r.composition
        rows.append(
            (
                True,
                r.spacegroup,
                r.n_sites,
                r.n_elements,
                r.dof,
                comp.reduced_formula,
                metrics.charge_neutral(comp, "smact14"),
                metrics.charge_neutral(comp, "smact4"),
                key not in seen,
                canonical_reference is None or key not in canonical_reference,
            )
        )
        seen.add(key)
    t = pd.DataFrame(rows, columns=WYCKOFF_COLUMNS)
    for c in ("valid", "wyckoff_unique", "wyckoff_novel"):
        t[c] = t[c].astype(bool)
    return t


def _element_matrix(formulas: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(elements, matrix of atomic fractions: one row per formula)."""
    comps = [Composition(f) for f in formulas]
    elements = sorted({el.symbol for c in comps for el in c})
    col = {e: i for i, e in enumerate(elements)}
    m = np.zeros((len(comps), len(elements)))
    for i, c in enumerate(comps):
        for el in c:
            m[i, col[el.symbol]] = c.get_atomic_fraction(el)
    return elements, m


def evaluate_set(
    s: EvaluatedSet,
    refs: References,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    e_hull_threshold: float = STABILITY_THRESHOLD,
    n_jobs: int = 1,
    masks: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Row, pd.DataFrame]:
    """Metrics of one set against the test split and train+val: (row, per-sample table).

    ``masks``: precomputed (unique, novel) structure masks. Metric i of `METRICS` gets bootstrap seed ``seed + i``.
    """
    seeds = {k: seed + i for i, (k, _, _) in enumerate(METRICS)}
    m: dict[str, CI] = {k: _NAN for k, _, _ in METRICS}
    notes = list(s.notes)

    def put(key: str, stat: Callable[[np.ndarray], float], n: int) -> None:
        """stat(indices) over n items, resampled with replacement (NaN for none); centered interval."""
        if n:
            bounds = (0.0, 100.0) if key in PERCENT else (0.0, np.inf)
            m[key] = bootstrap_ci(
                stat, np.arange(n), n_boot=n_bootstrap, seed=seeds[key], method="centered", bounds=bounds
            )

    def share(key: str, flags: np.ndarray, scale: float = 1.0) -> None:
        put(key, lambda idx: 100.0 * scale * float(np.mean(flags[idx])), len(flags))

    w = wyckoff_table(s.representations, refs.canonical_train_val)
    w.insert(0, "level", "sample")
    valid = w["valid"].to_numpy(bool)
    validity = float(valid.mean()) if len(w) else float("nan")
    if s.validity_applicable:
        share("validity", valid)
    else:
        notes.append("formal validity: not applicable (only valid representations are known)")
    vw = w[valid]
    share("wyckoff_uniqueness", vw["wyckoff_unique"].to_numpy(bool))
    share("wyckoff_novelty", vw.loc[vw["wyckoff_unique"], "wyckoff_novel"].to_numpy(bool))

    st = None  # structure level
    if s.structures is not None:
        unique, novel = masks if masks is not None else structure_novelty(s.structures, refs, n_jobs)
        unique, novel = np.asarray(unique, bool), np.asarray(novel, bool)  # also when empty (float64 otherwise)
        n_st = len(s.structures)
        e = np.full(n_st, np.nan) if s.e_hull is None else np.asarray(s.e_hull, float)
        complete = np.zeros(n_st, bool) if s.complete_binary is None else np.asarray(s.complete_binary, bool)
        n_refs = np.full(n_st, -1) if s.n_reference_compounds is None else np.asarray(s.n_reference_compounds, int)
        sg = np.array([r.spacegroup if r is not None else 0 for r in s.structure_reps], dtype=int)
        built = np.array([x is not None for x in s.structures], dtype=bool)
        sun = sun_mask(unique, novel, e, e_hull_threshold)
        ssun = sun & (sg != 1)
        st = pd.DataFrame(
            dict(
                level="structure",
                built=built,
                spacegroup=sg,
                unique=unique,
                novel=novel,
                e_hull=e,
                n_reference_compounds=n_refs,
                complete_binary_subsystems=complete,
                sun=sun,
                ssun=ssun,
            )
        )
        share("uniqueness", unique[built])
        share("novelty", novel[unique])
        has_e = np.isfinite(e)
        v_all = validity if s.validity_applicable else 1.0
        if has_e.any():
            for key, flags in (("sun", sun), ("ssun", ssun)):
                share(f"{key}_paper", flags[has_e])
                share(f"{key}_all", flags, v_all)
            share("sun_complete", sun[has_e & complete])
            share("complete_systems", complete[has_e])
        else:
            notes.append("S.U.N./S.S.U.N.: NaN, no E_hull values for this set")
        notes.append(
            f"structures: {len(e)} records, {int(built.sum())} with a structure, {int(has_e.sum())} with E_hull"
            + (
                f" (threshold {e_hull_threshold} eV/atom); S.U.N. 'all attempted' = S.U.N. count / records "
                f"x formal validity ({100 * v_all:.1f} %)"
                if has_e.any()
                else ""
            )
        )
    else:
        notes.append("uniqueness/novelty (structures), S.U.N., S.S.U.N.: NaN, no 3D structures for this set")

    if s.statistics_on == "structure_novel":
        keep = unique & novel & np.array([r is not None for r in s.structure_reps])
        st["in_statistics"], w["in_statistics"] = keep, False
        t = wyckoff_table([r for r, k in zip(s.structure_reps, keep, strict=True) if k])
        what = "sampled representations of the unique, novel structures"
    else:
        keep = valid if s.statistics_on == "all" else valid & w["wyckoff_unique"] & w["wyckoff_novel"]
        w["in_statistics"] = keep
        if st is not None:
            st["in_statistics"] = False
        t = w[keep].reset_index(drop=True)
        what = (
            "every valid representation (no uniqueness/novelty filter)"
            if s.statistics_on == "all"
            else "valid, Wyckoff-unique, Wyckoff-novel sampled representations"
        )
    notes.append(f"statistics (charge neutrality, KS, P1, chi2) on {len(t)} {what}")
    n = len(t)
    matrix = _element_matrix(t["composition"]) if n else ([], np.zeros((0, 0)))  # once, for the chi2 and the notes
    for key, stat in distance_statistics(t, refs, matrix).items():
        put(key, stat, n)
    unchecked = int(t["charge_neutral"].isna().sum())
    if unchecked:
        notes.append(
            f"charge neutrality: {unchecked} compositions with more than {MAX_OXIDATION_COMBINATIONS} "
            "oxidation-state combinations not checked, counted as not neutral"
        )
    for key, col in (("charge_neutrality", "charge_neutral"), ("charge_neutrality_smact4", "charge_neutral_smact4")):
        share(key, t[col].eq(True).to_numpy(bool))
    g = t["spacegroup"].to_numpy(int)
    put("p1", lambda idx: 100.0 * metrics.p1_fraction(g[idx]), n)
    test_sg = metrics.distribution._counts(refs.test_table["spacegroup"].to_numpy(int))
    test_el = Counter(dict(zip(refs.test_elements, refs.test_element_counts, strict=True)))
    if n:
        elements, fractions = matrix
        element_counts = Counter(dict(zip(elements, fractions.sum(0), strict=True)))
        for key, res in (
            ("space groups", metrics.spacegroup_chi2(g, test_sg)),
            ("elements", metrics.elements_chi2(element_counts, test_el)),
        ):
            if res.dropped:
                notes.append(
                    f"paper-style chi2 dropped {len(res.dropped)} {key} absent from the test split "
                    f"({100 * res.dropped_mass:.1f} % of the set's mass, the rest renormalized): "
                    f"{', '.join(map(str, res.dropped[:10]))}" + (" ..." if len(res.dropped) > 10 else "")
                )

    structure_counts = (
        (0,) * 5
        if st is None
        else (built.sum(), unique.sum(), (unique & novel).sum(), has_e.sum(), (has_e & complete).sum())
    )
    counts = dict(zip(COUNTS, map(int, (len(w), valid.sum(), n, *structure_counts)), strict=True))
    details = pd.concat(
        [w.reset_index(names="index")] + ([] if st is None else [st.reset_index(names="index")]), ignore_index=True
    )
    details.insert(0, "set", s.name)
    return Row(s.id, "computed", m, counts, notes, name=s.name, statistics=t), details


DISTANCES = ("sites_ks", "elements_ks", "dof_ks", "sg_chi2", "sg_chi2_corrected", "el_chi2", "el_chi2_corrected")


def distance_statistics(
    t: pd.DataFrame, refs: References, matrix: tuple[list[str], np.ndarray] | None = None
) -> dict[str, Callable[[np.ndarray], float]]:
    """The `DISTANCES` of the statistics table `t` (`wyckoff_table` rows) to the test split, each as a function of
    row indices of `t` (the full set: ``np.arange(len(t))``); ``matrix``: `_element_matrix` of its compositions."""
    ref = refs.test_table
    out: dict[str, Callable[[np.ndarray], float]] = {}
    for key, col in (("sites_ks", "n_sites"), ("elements_ks", "n_elements"), ("dof_ks", "dof")):
        a, b = t[col].to_numpy(float), ref[col].to_numpy(float)
        out[key] = lambda idx, a=a, b=b: metrics.ks_statistic(a[idx], b)
    g = t["spacegroup"].to_numpy(int)
    test_sg = metrics.distribution._counts(ref["spacegroup"].to_numpy(int))
    if matrix is None:
        matrix = _element_matrix(t["composition"]) if len(t) else ([], np.zeros((0, 0)))
    elements, fractions = matrix
    test_el = Counter(dict(zip(refs.test_elements, refs.test_element_counts, strict=True)))

    def element_counts(idx: np.ndarray) -> Counter:
        return Counter(dict(zip(elements, fractions[idx].sum(0), strict=True)))

    for c, suffix in ((False, ""), (True, "_corrected")):
        out["sg_chi2" + suffix] = lambda idx, c=c: metrics.spacegroup_chi2(g[idx], test_sg, c).value
        out["el_chi2" + suffix] = lambda idx, c=c: metrics.elements_chi2(element_counts(idx), test_el, c).value
    return out


def equal_size_table(rows: Sequence[Row], refs: References, size: int, n_repeats: int = 200, seed: int = 0):
    """`DISTANCES` of each row at `size` statistics samples: the mean (and 2.5-97.5 % range) over `n_repeats`
    random subsets of that size drawn without replacement; a row of exactly `size` is taken whole. KS and chi2 grow
    as a set shrinks, so only values at one size compare across rows. Rows without statistics or smaller than
    `size` are left out."""
    rng = np.random.default_rng(seed)
    out = []
    for r in rows:
        t = r.statistics
        if t is None or len(t) < size:
            continue
        stats = distance_statistics(t, refs)
        draws = (
            [np.arange(size)] if len(t) == size else [rng.choice(len(t), size, replace=False) for _ in range(n_repeats)]
        )
        d: dict = {"row": r.name, "n_statistics": len(t), "size": size, "subsets": len(draws) if len(t) > size else 0}
        for key, stat in stats.items():
            v = np.array([stat(idx) for idx in draws])
            d[key], d[f"{key}_low"], d[f"{key}_high"] = v.mean(), *np.quantile(v, [0.025, 0.975])
        out.append(d)
    return pd.DataFrame(out)


def seed_row(rows: Sequence[Row], row_id: str = "ours_seeds") -> Row:
    """One row from the rows of several sampling seeds: per metric the mean with the [min, max] over seeds (not
    a bootstrap interval). A metric that is NaN, or a count that is 0, for some seed (e.g. the structure level when
    only one seed was relaxed) is NaN / left out, not the value of the seeds that have it."""
    m = {}
    for k, _, _ in METRICS:
        v = np.array([r.value(k) for r in rows], float)
        m[k] = CI(float(v.mean()), float(v.min()), float(v.max())) if np.isfinite(v).all() else _NAN
    counts = {c: int(np.mean([r.counts[c] for r in rows])) for c in COUNTS if all(r.counts.get(c) for r in rows)}
    note = f"mean over {len(rows)} sampling seeds, [min, max] over the seeds (not a bootstrap interval); Wyckoff level"
    return Row(row_id, "seeds", m, counts, [note])


def seed_table(rows: Sequence[Row], seeds: Sequence[int]) -> pd.DataFrame:
    """Metric x seed values of `rows` (one per sampling seed) with mean, standard deviation, min and max."""
    keys = [k for k, _, _ in METRICS if any(np.isfinite(r.value(k)) for r in rows)]
    t = pd.DataFrame({f"seed {s}": [r.value(k) for k in keys] for s, r in zip(seeds, rows, strict=True)}, index=keys)
    v = t.to_numpy(float)
    t["mean"], t["sd"], t["min"], t["max"] = (
        v.mean(1),
        v.std(1, ddof=1) if v.shape[1] > 1 else np.nan,
        v.min(1),
        v.max(1),
    )
    return t.rename_axis("metric").reset_index()


def sun_difference(
    a: pd.DataFrame, b: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, metrics.ProportionDifference]:
    """S.U.N. of a minus b (percentage points) from their `evaluate_set` tables, per denominator: ``"with E_hull"``
    (the paper's) and ``"sent to 3D"`` (failures count as not S.U.N.); bootstrap over both sets, Fisher's test."""
    out = {}
    sa, sb = (d[d["level"] == "structure"] for d in (a, b))
    for label, with_e_hull in (("with E_hull", True), ("sent to 3D", False)):
        fa, fb = (
            d.loc[d["e_hull"].notna() if with_e_hull else d.index, "sun"].astype(bool).to_numpy() for d in (sa, sb)
        )
        out[label] = metrics.proportion_difference(fa, fb, n_boot=n_bootstrap, seed=seed)
    return out
