"""Build the CHGNet reference table of the convex hull (`wylib/resources/chgnet_reference_energies.csv.gz`).

The table is read at run time by `wylib.hull` (what it holds and how E_hull is computed: see there). This tool
made it; rerun it only to rebuild the table (hours of CHGNet on CPU), e.g. for another CHGNet version.

Compounds: every Materials Project structure of `wylib.hull.reference_frame` (de-duplicated by
`material_id`) with its CHGNet *static* energy (the structures are DFT-relaxed): CHGNet's own batched
energies (`wylib.chgnet.energies_per_atom`). Elemental references, one per element on the same CHGNet scale:

1. ``relaxed:<id>`` - the lowest CHGNet-relaxed energy among the pure-element
   structures of the reference set within 0.08 eV/atom of MP's DFT hull (at most the
   3 with the lowest static energy) and the ``ase.build.bulk`` reference state;
2. ``ase_bulk`` - the ``ase.build.bulk`` state relaxed with CHGNet (cell + positions);
3. ``dft+offset`` - elements with neither (molecular/gas elements such as H, N, O,
   F, Cl): the MP DFT elemental energy of `mp_elemental_refs` shifted by the median
   CHGNet-minus-DFT difference measured on the elements that have 1 or 2. Chosen
   over a CHGNet molecule-in-a-box because it needs no hand-built structure and stays
   tied to MP's ground-state entry, against which the MP2020 anion corrections were
   fitted; its uncertainty is the spread of that difference over elements. The DFT
   elemental energies are MP's corrected energies (zero correction for elements).

Relaxations of references are CHGNet's `StructOptimizer` protocol (FIRE, cell and positions at once, no
symmetry constraint, fmax 0.05 eV/A, at most 500 steps, no volume-change limit) run by
`wylib.relax.BatchRelaxer` in one process, without the companion graph.

Bias: references get static energies of DFT-relaxed structures, generated structures CHGNet-relaxed ones;
``bias`` measures the shift on a sample of references (results: wylib/resources/README.md).

CLI (resumable, progress to stderr; work files under ``output/hull/``), from the repository root:
    python -m tools.build_hull_reference compute   # static energies + elemental refs -> resource table
    python -m tools.build_hull_reference elements  # elemental refs only
    python -m tools.build_hull_reference check     # share of references within 0.08 eV/atom of the hull
    python -m tools.build_hull_reference bias --n 100   # relaxed-vs-static shift on a sample
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import io
import json
import math
import os
import platform
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import chgnet
import numpy as np
import pandas as pd
from ase.build import bulk
from pymatgen.core import Composition, Element, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from tqdm import tqdm

from wylib.chgnet import Failure, energies_per_atom, load_model
from wylib.constants import STABILITY_THRESHOLD
from wylib.data import locate, parse_cif
from wylib.hull import RESOURCE, ReferenceHull, default_hull, e_above_hull_table, reference_frame
from wylib.relax import USABLE_FLAGS, BatchRelaxer, RelaxConfig

WORK_DIR = Path(__file__).resolve().parents[1] / "output" / "hull"


def dft_elemental_energies() -> dict[str, float]:
    """MP DFT (corrected) energy per atom of the lowest elemental entry, by element."""
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
    return load_model(threads=int(os.environ.get("WYLIB_THREADS", "1")), device="auto")


def chgnet_static_energies(
    structures: Sequence[Structure | None], batch_size: int = 32
) -> tuple[np.ndarray, list[str]]:
    """CHGNet energy per atom of each structure (`wylib.chgnet.energies_per_atom`, batched, CHGNet's own
    energies); NaN + flag parse_failed (None) or chgnet_failed:<exception> on failure."""
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
    """The structure of a CIF, or None (counted as parse_failed)."""
    try:
        return parse_cif(cif)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- compute
def compute_static(work_dir: Path, chunk: int = 512, batch_size: int = 32) -> pd.DataFrame:
    """Static CHGNet energies of all references, in resumable chunks under work_dir/static."""
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
    static: pd.DataFrame,
    el_df: pd.DataFrame,
    path: Path = RESOURCE,
    command: str = "python -m tools.build_hull_reference compute",
) -> None:
    """Write the compact reference table (compounds + elemental refs) with a header."""
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
