"""CHGNet reference energies, a convex hull per chemical system, E_hull (the run-time lookup): docs/relaxation.md."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Structure

from wylib.data import load_split

RESOURCE = Path(__file__).parent / "resources" / "chgnet_reference_energies.csv.gz"
SPLITS: tuple[tuple[str, str], ...] = tuple(
    [("mp_20_biternary_open", s) for s in ("train", "val", "test")] + [("mpts_52", s) for s in ("val", "test")]
)


def reference_frame() -> pd.DataFrame:
    """All reference structures: material_id, source, cif, dft_e_hull (deduplicated)."""
    frames = []
    for dataset, split in SPLITS:
        df = load_split(dataset, split)
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


@dataclass(frozen=True)
class HullResult:
    """E_hull (eV/atom, negative below the hull) with the coverage of its chemical system (docs/relaxation.md)."""

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
