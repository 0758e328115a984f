"""CHGNet reference energies, a convex hull per chemical system, and E_hull.

Reference set: every Materials Project structure of the data directory
(`mp_20_biternary_open` train/val/test, `mpts_52` val/test), de-duplicated by
`material_id`, with its CHGNet *static* energy (the structures are DFT-relaxed),
plus one elemental reference per element on the same CHGNet scale:

1. ``relaxed:<id>`` - the lowest CHGNet-relaxed energy among the pure-element
   structures of the reference set within 0.08 eV/atom of MP's DFT hull (at most the
   3 with the lowest static energy) and the ``ase.build.bulk`` reference state;
2. ``ase_bulk`` - the ``ase.build.bulk`` state relaxed with CHGNet (cell + positions);
3. ``dft+offset`` - elements with neither (molecular/gas elements such as H, N, O,
   F, Cl): the MP DFT elemental energy of `mp_elemental_refs` shifted by the median
   CHGNet-minus-DFT difference measured on the elements that have 1 or 2. Chosen
   over a CHGNet molecule-in-a-box because it needs no hand-built structure and stays
   tied to MP's ground-state entry, against which the MP2020 anion corrections were
   fitted; its uncertainty is the spread of that difference over elements.

MP2020 policy: CHGNet was trained on MPtrj energies that already include the
MP2020 compatibility corrections, so its predictions are on the corrected scale.
No further correction is applied, neither to references nor to generated
structures (applying MP2020 again would double-count it). The DFT elemental
energies used in step 3 are MP's corrected energies (zero correction for elements).

Bias: references get static energies of DFT-relaxed structures, generated
structures CHGNet-relaxed ones; `python -m wylib.hull bias` measures the shift on a
sample of references (results: wylib/resources/README.md).

CHGNet: the model of `wylib.chgnet.load_model`; static energies are CHGNet's own batched
energies (`wylib.chgnet.energies_per_atom`); relaxations of references are CHGNet's
`StructOptimizer` protocol (FIRE, cell and positions at once, no symmetry constraint,
fmax 0.05 eV/A, at most 500 steps, no volume-change limit) run by `wylib.relax.BatchRelaxer`.

Coverage: the ~26k structures are a fraction of MP, so many chemical systems lack
competing compounds and E_hull comes out too low. Every E_hull therefore comes
with the number of reference compounds in its chemical system and whether every
binary subsystem has at least one reference compound.

CLI (resumable, progress to stderr; work files under ``output/hull/``):
    python -m wylib.hull compute   # static energies + elemental refs -> resource table
    python -m wylib.hull check     # share of references within 0.08 eV/atom of the hull
    python -m wylib.hull bias --n 100   # relaxed-vs-static shift on a sample
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import io
import itertools
import json
import math
import os
import platform
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element, Structure

from wylib.constants import STABILITY_THRESHOLD

RESOURCE = Path(__file__).parent / "resources" / "chgnet_reference_energies.csv.gz"
WORK_DIR = Path(__file__).resolve().parents[1] / "output" / "hull"
SPLITS: tuple[tuple[str, str], ...] = (
    ("mp_20_biternary_open", "train"),
    ("mp_20_biternary_open", "val"),
    ("mp_20_biternary_open", "test"),
    ("mpts_52", "val"),
    ("mpts_52", "test"),
)


# ----------------------------------------------------------------------------- data
def _load_split(dataset: str, split: str) -> pd.DataFrame:
    from wylib.data import load_split

    return load_split(dataset, split)


def reference_frame() -> pd.DataFrame:
    """All reference structures: material_id, source, cif, dft_e_hull (deduplicated)."""
    frames = []
    for dataset, split in SPLITS:
        df = _load_split(dataset, split)
        ehull = df["e_above_hull"] if "e_above_hull" in df else df["energy_above_hull"]
        frames.append(
            pd.DataFrame(
                {
                    "material_id": df["material_id"],
                    "source": f"{dataset}/{split}",
                    "cif": df["cif"],
                    "dft_e_hull": ehull,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    sources = df.groupby("material_id", sort=False)["source"].agg("+".join)
    df = df.drop_duplicates("material_id").reset_index(drop=True)
    df["source"] = df["material_id"].map(sources)
    return df


def dft_elemental_energies() -> dict[str, float]:
    """MP DFT (corrected) energy per atom of the lowest elemental entry, by element."""
    from wylib.data import locate

    with gzip.open(locate("mp_elemental_refs", "all"), "rt") as f:
        raw = json.load(f)
    out = {}
    for el, e in raw.items():
        n = sum(e["composition"].values())
        out[el] = (e["energy"] + e.get("correction", 0.0)) / n
    return out


# ----------------------------------------------------------------------------- CHGNet
@lru_cache(maxsize=1)
def _model():
    """The process's CHGNet (`wylib.chgnet.load_model`): CUDA when available, WYLIB_THREADS torch threads (1)."""
    from wylib.chgnet import load_model

    return load_model(threads=int(os.environ.get("WYLIB_THREADS", "1")), device="auto")


def chgnet_static_energies(
    structures: Sequence[Structure | None], batch_size: int = 32
) -> tuple[np.ndarray, list[str]]:
    """CHGNet energy per atom of each structure (`wylib.chgnet.energies_per_atom`, batched, CHGNet's own
    energies); NaN + flag parse_failed (None) or chgnet_failed:<exception> on failure."""
    from wylib.chgnet import Failure, energies_per_atom

    energies = np.full(len(structures), np.nan)
    flags = ["parse_failed" if s is None else "ok" for s in structures]
    idx = [i for i, s in enumerate(structures) if s is not None]
    for i, e in zip(idx, energies_per_atom(_model(), [structures[i] for i in idx], batch_size), strict=True):
        if isinstance(e, Failure):
            flags[i] = "chgnet_failed:" + type(e.error).__name__
        else:
            energies[i] = e
    return energies, flags


def chgnet_relaxed_energies(structures: Sequence[Structure | None], fmax: float = 0.05, steps: int = 500) -> np.ndarray:
    """CHGNet-relaxed energy per atom of each structure: CHGNet's `StructOptimizer.relax` protocol (FIRE, cell
    and positions at once, no symmetry constraint) with `wylib.relax.BatchRelaxer`, all structures in one batch.
    NaN where the relaxation gives no usable structure (`wylib.relax.USABLE_FLAGS`) or the input is None.
    No volume-change limit (as StructOptimizer): an ``ase.build.bulk`` start can be far off (U: 82.6 A^3/atom,
    relaxed to a sound 19.2, a ratio the exploded_cell check of generated structures would reject)."""
    from wylib.relax import USABLE_FLAGS, BatchRelaxer, RelaxConfig

    config = RelaxConfig(fmax=fmax, steps=steps, phases=("cell",), symmetry=False, max_volume_ratio=math.inf)
    out = np.full(len(structures), np.nan)
    items = [(str(i), s) for i, s in enumerate(structures) if s is not None]
    # one process, fixed order: no pool timing to guard against, so no companion (the references' energies stay
    # those computed before it existed, and a lone structure gets StructOptimizer's values bit for bit)
    for r in BatchRelaxer(config, model=_model(), companion=False).relax(items):
        if r.flag in USABLE_FLAGS:
            out[int(r.id)] = r.energy_per_atom
    return out


def _parse(cif: str) -> Structure | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_str(cif, fmt="cif")
    except Exception:  # noqa: BLE001 - counted as parse_failed
        return None


# ----------------------------------------------------------------------------- compute
def compute_static(work_dir: Path, chunk: int = 512, batch_size: int = 32) -> pd.DataFrame:
    """Static CHGNet energies of all references, in resumable chunks under work_dir/static."""
    from tqdm import tqdm

    refs = reference_frame()
    out = work_dir / "static"
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for c in tqdm(range(0, len(refs), chunk), desc="CHGNet static", unit="chunk"):
        path = out / f"chunk_{c // chunk:04d}.csv"
        if not path.exists():
            sub = refs.iloc[c : c + chunk]
            structs = [_parse(x) for x in sub["cif"]]
            e, flags = chgnet_static_energies(structs, batch_size)
            pd.DataFrame(
                {
                    "material_id": sub["material_id"].values,
                    "source": sub["source"].values,
                    "reduced_formula": [s.composition.reduced_formula if s else "" for s in structs],
                    "n_atoms": [len(s) if s else 0 for s in structs],
                    "chgnet_energy_per_atom": np.round(e, 5),
                    "dft_e_hull": np.round(sub["dft_e_hull"].values, 4),
                    "flag": flags,
                }
            ).to_csv(path.with_suffix(".tmp"), index=False)
            path.with_suffix(".tmp").rename(path)
        parts.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    return pd.concat(parts, ignore_index=True)


def _cif_formula(cif: str) -> Composition | None:
    """Composition from a CIF's `_chemical_formula_sum` line (cheap, no parsing)."""
    m = re.search(r"_chemical_formula_sum\s+'?([^'\n]+)'?", cif)
    try:
        return Composition(m.group(1)) if m else None
    except Exception:  # noqa: BLE001
        return None


def compute_elemental(work_dir: Path, max_polymorphs: int = 3, near_hull: float = STABILITY_THRESHOLD) -> pd.DataFrame:
    """One CHGNet elemental reference per element occurring in the references (resumable).

    Candidates: pure-element reference structures within `near_hull` eV/atom of MP's
    DFT hull (high-energy polymorphs such as the only N2 entry, 1.04 eV/atom above,
    would make a wrong reference), at most the `max_polymorphs` with the lowest static
    CHGNet energy, plus the ``ase.build.bulk`` state; all relaxed, the lowest kept.
    """
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor
    from tqdm import tqdm

    refs = reference_frame()
    comps = [_cif_formula(c) for c in refs["cif"]]
    out = work_dir / "elements"
    out.mkdir(parents=True, exist_ok=True)
    elements = sorted({el.symbol for c in comps if c for el in c}, key=lambda x: Element(x).Z)
    for el in tqdm(elements, desc="elemental refs"):
        path = out / f"{el}.json"
        if path.exists():
            continue
        cands: list[tuple[str, Structure | None]] = [
            (f"relaxed:{mid}", _parse(cif))
            for mid, cif, c, eh in zip(refs["material_id"], refs["cif"], comps, refs["dft_e_hull"], strict=True)
            if c is not None and len(c) == 1 and c.elements[0].symbol == el and eh <= near_hull
        ]
        if len(cands) > max_polymorphs:  # relax only the lowest static energies
            e0, _ = chgnet_static_energies([st for _, st in cands])
            cands = [cands[i] for i in np.argsort(np.nan_to_num(e0, nan=np.inf))[:max_polymorphs]]
        try:
            cands.append(("ase_bulk", AseAtomsAdaptor.get_structure(bulk(el))))
        except Exception:  # noqa: BLE001 - no ase reference state for this element
            pass
        best: tuple[str, float] | None = None
        for (name, _), e in zip(cands, chgnet_relaxed_energies([st for _, st in cands]), strict=True):
            if np.isfinite(e) and (best is None or e < best[1]):  # a failing candidate is skipped
                best = (name, float(e))
        rec = {
            "element": el,
            "source": best[0] if best else "none",
            "energy": best[1] if best else None,
            "n_candidates": len(cands),
        }
        path.write_text(json.dumps(rec))
    return elemental_table(work_dir, elements)


def elemental_table(work_dir: Path, elements: Sequence[str]) -> pd.DataFrame:
    """Collect per-element results; fill elements without a structure by DFT + median offset."""
    el_df = pd.DataFrame([json.loads((work_dir / "elements" / f"{el}.json").read_text()) for el in elements])
    dft = dft_elemental_energies()
    have = el_df["energy"].notna()
    el_df["dft"] = el_df["element"].map(dft)
    diff = el_df.loc[have, "energy"] - el_df.loc[have, "dft"]
    offset = float(np.median(diff))
    miss = ~have
    el_df.loc[miss, "energy"] = el_df.loc[miss, "dft"] + offset
    el_df.loc[miss, "source"] = f"dft+offset({offset:+.4f})"
    el_df.loc[have, "source"] += [f"; chgnet-dft {d:+.3f}" for d in diff]
    el_df.attrs["offset"] = offset
    el_df.attrs["offset_mean"] = float(np.mean(diff))
    return el_df


def write_resource(
    static: pd.DataFrame, el_df: pd.DataFrame, path: Path = RESOURCE, command: str = "python -m wylib.hull compute"
) -> None:
    """Write the compact reference table (compounds + elemental refs) with a header."""
    import chgnet

    els = pd.DataFrame(
        {
            "material_id": "element:" + el_df["element"],
            "source": el_df["source"],
            "reduced_formula": el_df["element"],
            "n_atoms": 1,
            "chgnet_energy_per_atom": np.round(el_df["energy"].astype(float), 5),
            "dft_e_hull": np.nan,
            "flag": "elemental_ref",
        }
    )
    table = pd.concat([static, els], ignore_index=True)
    table.loc[
        (table["flag"] == "ok") & table["reduced_formula"].map(lambda f: bool(f) and len(Composition(f)) == 1), "flag"
    ] = "ok_element_polymorph"
    header = [
        "# CHGNet reference energies for the convex hull of wylib (see wylib/hull.py).",
        f"# made by: {command}  (WYLIB_DATA_DIR=../shared/data)",
        f"# date: {datetime.date.today().isoformat()}  host: {platform.node()}  "
        f"chgnet {chgnet.__version__} (model {_model().version})",
        "# compounds: CHGNet static energy of the DFT-relaxed MP structure; no MP2020 re-correction",
        f"# elemental refs (material_id element:X): source column says how; dft+offset uses median "
        f"CHGNet-DFT offset {el_df.attrs['offset']:+.4f} eV/atom (mean {el_df.attrs['offset_mean']:+.4f})",
        "# flags: ok | ok_element_polymorph (not used in hulls) | parse_failed | chgnet_failed:<err> | elemental_ref",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    buf.write("\n".join(header) + "\n")
    table.to_csv(buf, index=False)
    with gzip.open(path, "wt") as f:
        f.write(buf.getvalue())


# ----------------------------------------------------------------------------- hull
@dataclass(frozen=True)
class HullResult:
    """E_hull (eV/atom, negative below the hull); the number of reference compounds (not
    elements) whose elements lie within the chemical system; whether every pair of its
    elements has at least one reference compound of exactly that pair (True for unaries)."""

    e_hull: float
    n_reference_compounds: int
    complete_binary_subsystems: bool


class ReferenceHull:
    """Phase diagrams per chemical system from a reference table (compounds + elements)."""

    def __init__(self, table: pd.DataFrame):
        el = table[table["flag"] == "elemental_ref"]
        self.elements: dict[str, float] = dict(zip(el["reduced_formula"], el["chgnet_energy_per_atom"], strict=True))
        comp = table[(table["flag"] == "ok") & table["chgnet_energy_per_atom"].notna()]
        self.by_system: dict[frozenset[str], list[PDEntry]] = {}
        for f, e, mid in zip(comp["reduced_formula"], comp["chgnet_energy_per_atom"], comp["material_id"], strict=True):
            c = Composition(f)
            if len(c) < 2:
                continue
            key = frozenset(x.symbol for x in c)
            self.by_system.setdefault(key, []).append(PDEntry(c, float(e) * c.num_atoms, name=str(mid)))
        self._pds: dict[frozenset[str], PhaseDiagram] = {}

    @classmethod
    def from_csv(cls, path: str | Path = RESOURCE) -> ReferenceHull:
        return cls(pd.read_csv(path, comment="#", keep_default_na=False, na_values=[""]))

    def compounds(self, system: Iterable[str]) -> list[PDEntry]:
        """Reference compounds whose elements are a subset of `system` (at least binary)."""
        s = sorted(set(system))
        return [
            e
            for r in range(2, len(s) + 1)
            for sub in itertools.combinations(s, r)
            for e in self.by_system.get(frozenset(sub), [])
        ]

    def phase_diagram(self, system: Iterable[str]) -> PhaseDiagram:
        key = frozenset(system)
        if key not in self._pds:
            missing = [x for x in key if x not in self.elements]
            if missing:
                raise KeyError(f"no elemental reference for {missing}")
            entries = [PDEntry(Composition(x), self.elements[x], name=f"element:{x}") for x in key]
            self._pds[key] = PhaseDiagram(entries + self.compounds(key))
        return self._pds[key]

    def e_above_hull(self, composition: Composition | Structure | str, energy_per_atom: float) -> HullResult:
        """E_hull of a composition with the given CHGNet energy per atom (negative below the hull)."""
        if isinstance(composition, Structure):
            composition = composition.composition
        comp = Composition(composition)
        syms = sorted(x.symbol for x in comp)
        pd_ = self.phase_diagram(syms)
        entry = PDEntry(comp, float(energy_per_atom) * comp.num_atoms)
        _, e = pd_.get_decomp_and_e_above_hull(entry, allow_negative=True)
        n = len(self.compounds(syms))
        complete = all(frozenset(p) in self.by_system for p in itertools.combinations(syms, 2))
        return HullResult(float(e), n, complete)


@lru_cache(maxsize=1)
def default_hull() -> ReferenceHull:
    return ReferenceHull.from_csv(RESOURCE)


def e_above_hull(composition: Composition | Structure | str, energy_per_atom: float) -> tuple[float, int, bool]:
    """(E_hull, n_reference_compounds_in_system, complete_binary_subsystems) on the shipped table."""
    r = default_hull().e_above_hull(composition, energy_per_atom)
    return r.e_hull, r.n_reference_compounds, r.complete_binary_subsystems


def e_above_hull_table(
    compositions: Sequence[Composition | Structure | str],
    energies_per_atom: Sequence[float],
    hull: ReferenceHull | None = None,
) -> pd.DataFrame:
    """E_hull for many structures; bad input (unknown element, NaN energy) gives NaN + a flag."""
    hull = hull or default_hull()
    rows = []
    for c, e in zip(compositions, energies_per_atom, strict=True):
        try:
            if e is None or not np.isfinite(e):
                raise ValueError("no energy")
            r = hull.e_above_hull(c, e)
            rows.append((r.e_hull, r.n_reference_compounds, r.complete_binary_subsystems, "ok"))
        except Exception as err:  # noqa: BLE001 - counted, never crashes a long run
            rows.append((np.nan, 0, False, f"failed:{type(err).__name__}"))
    return pd.DataFrame(rows, columns=["e_hull", "n_reference_compounds", "complete_binary_subsystems", "flag"])


# ----------------------------------------------------------------------------- checks
def check_references(path: Path = RESOURCE, threshold: float = STABILITY_THRESHOLD) -> dict:
    """E_hull of every reference compound on the hull built from all of them."""
    table = pd.read_csv(path, comment="#", keep_default_na=False, na_values=[""])
    hull = ReferenceHull(table)
    comp = table[(table["flag"] == "ok") & table["reduced_formula"].map(lambda f: len(Composition(f)) > 1)]
    res = e_above_hull_table(comp["reduced_formula"].tolist(), comp["chgnet_energy_per_atom"].tolist(), hull)
    e = res["e_hull"].to_numpy()
    near = comp["dft_e_hull"].to_numpy() <= threshold
    return {
        "n": len(e),
        "within": float(np.mean(e <= threshold)),
        "n_dft_near_hull": int(near.sum()),
        "within_dft_near_hull": float(np.mean(e[near] <= threshold)),
        "n_failed": int((res["flag"] != "ok").sum()),
        "median_e_hull": float(np.nanmedian(e)),
    }


def measure_bias(n: int, work_dir: Path, seed: int = 0, fmax: float = 0.05, batch: int = 32) -> pd.DataFrame:
    """Static vs CHGNet-relaxed energy of a seeded sample of reference compounds (resumable per `batch`)."""
    from tqdm import tqdm

    refs = reference_frame()
    comps = [_cif_formula(c) for c in refs["cif"]]
    refs = refs[[c is not None and len(c) > 1 for c in comps]]
    sample = refs.sample(n=min(n, len(refs)), random_state=seed)
    path = work_dir / f"bias_seed{seed}.csv"
    done = set(pd.read_csv(path)["material_id"]) if path.exists() else set()
    pairs = [(mid, cif) for mid, cif in zip(sample["material_id"], sample["cif"], strict=True) if mid not in done]
    for lo in tqdm(range(0, len(pairs), batch), desc=f"relax references ({batch} per batch)"):
        todo = pairs[lo : lo + batch]
        structs = [_parse(cif) for _, cif in todo]
        pd.DataFrame(
            {
                "material_id": [mid for mid, _ in todo],
                "reduced_formula": [s.composition.reduced_formula if s else "" for s in structs],
                "static": chgnet_static_energies(structs)[0],  # NaN on failure
                "relaxed": chgnet_relaxed_energies(structs, fmax=fmax),
            }
        ).to_csv(path, mode="a", header=not path.exists(), index=False)
    return pd.read_csv(path)


def bias_report(df: pd.DataFrame, hull: ReferenceHull) -> str:
    """Energy shift (static - relaxed) and its effect on E_hull against the static-energy hull."""
    df = df.dropna(subset=["static", "relaxed"])
    h0 = e_above_hull_table(df["reduced_formula"].tolist(), df["static"].tolist(), hull)["e_hull"].to_numpy()
    h1 = e_above_hull_table(df["reduced_formula"].tolist(), df["relaxed"].tolist(), hull)["e_hull"].to_numpy()
    d = (df["static"] - df["relaxed"]).to_numpy()
    return (
        f"n={len(d)} static-relaxed eV/atom: mean {d.mean():.4f} median {np.median(d):.4f} "
        f"p90 {np.quantile(d, 0.9):.4f} max {d.max():.4f}; E_hull(static)-E_hull(relaxed) mean "
        f"{np.nanmean(h0 - h1):.4f} median {np.nanmedian(h0 - h1):.4f}; within 0.08: static "
        f"{np.nanmean(h0 <= 0.08):.3f} relaxed {np.nanmean(h1 <= 0.08):.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cmd", choices=["compute", "elements", "check", "bias"])
    p.add_argument("--work-dir", type=Path, default=WORK_DIR)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.cmd == "compute":
        static = compute_static(a.work_dir, batch_size=a.batch_size)
        el_df = compute_elemental(a.work_dir)
        write_resource(static, el_df)
        print(el_df.to_string())
        print(static["flag"].value_counts().to_string())
    elif a.cmd == "elements":
        print(compute_elemental(a.work_dir).to_string())
    elif a.cmd == "check":
        print(json.dumps(check_references(), indent=1))
    else:
        df = measure_bias(a.n, a.work_dir, a.seed)
        print(bias_report(df, default_hull()) if RESOURCE.exists() else df.describe().to_string())


if __name__ == "__main__":
    main()
