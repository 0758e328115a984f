"""The paper authors' released samples ("WyFormer generated structures") as this project's types."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
from pymatgen.core import Composition, Structure

from wylib.constants import BITERNARY
from wylib.data import locate
from wylib.tokens import WyckoffRepresentation, formal_validity_error

NAME = "WyFormer release (authors)"


def _json_column(values: pd.Series) -> list:
    return [json.loads(v) if isinstance(v, str) else v for v in values]


def _pyxtal_args(frame: pd.DataFrame) -> list[dict]:
    """Each gene row as pyXtal `from_random` arguments (non-integer counts kept, for a reason later)."""
    species, counts, sites = (_json_column(frame[c]) for c in ("species", "numIons", "sites"))
    rows = zip(frame["group"], species, counts, sites, strict=True)
    return [dict(group=int(g), species=sp, numIons=_integers(n), sites=st) for g, sp, n, st in rows]


def _integers(values):
    try:
        return [int(k) for k in values]
    except (TypeError, ValueError):
        return values


def _representations(args: Sequence[dict]) -> tuple[list[WyckoffRepresentation | None], list[str | None]]:
    reps: list[WyckoffRepresentation | None] = []
    reasons: list[str | None] = []
    for a in args:
        try:
            rep = WyckoffRepresentation.from_pyxtal_args(a)
            if rep.composition != _composition(a["species"], a["numIons"]):
                raise ValueError("numIons do not match the multiplicities of the sites")
            if (why := formal_validity_error(rep.spacegroup, rep.tokens)) is not None:
                raise ValueError(f"not formally valid: {why}")
            reps.append(rep)
            reasons.append(None)
        except (KeyError, ValueError, TypeError) as err:
            reps.append(None)
            reasons.append(f"{type(err).__name__}: {err}")
    return reps, reasons


def _composition(species: Sequence[str], num_ions: Sequence[int]):
    counts: dict[str, float] = {}
    for s, k in zip(species, num_ions, strict=True):
        counts[s] = counts.get(s, 0) + int(k)
    return Composition(counts)


def _select(frame: pd.DataFrame, n_elements: Sequence[int] | None) -> pd.DataFrame:
    frame = frame.copy()
    frame["n_elements"] = [len(set(sp)) for sp in _json_column(frame["species"])]
    if n_elements is not None:
        frame = frame[frame["n_elements"].isin(list(n_elements))]
    return frame.reset_index(drop=True)


def load_genes(n_elements: Sequence[int] | None = BITERNARY) -> pd.DataFrame:
    """The released genes with 2-3 distinct elements (``n_elements=None``: all 10,000), in file order."""
    frame = _select(pd.read_csv(locate("wyformer_release", "genes")), n_elements)
    args = _pyxtal_args(frame)
    reps, reasons = _representations(args)
    return pd.DataFrame(
        dict(
            material_id=frame["material_id"].astype(str),
            group=frame["group"].astype(int),
            n_elements=frame["n_elements"],
            smact_validity=frame["smact_validity"].astype(bool),
            pyxtal_args=args,
            representation=reps,
            reason=reasons,
        )
    )


def load_relaxed(n_elements: Sequence[int] | None = BITERNARY) -> pd.DataFrame:
    """The released CHGNet-relaxed samples with 2-3 distinct elements (``None``: all 999), in file order."""
    frame = _select(pd.read_csv(locate("wyformer_release", "relaxed")), n_elements)
    structures, reasons = [], []
    for d in frame["structure"]:
        try:
            structures.append(Structure.from_dict(json.loads(d)))
            reasons.append(None)
        except (ValueError, KeyError, TypeError) as err:
            structures.append(None)
            reasons.append(f"unreadable structure: {type(err).__name__}: {err}")
    reps, rep_reasons = _representations(_pyxtal_args(frame))
    return pd.DataFrame(
        dict(
            material_id=frame["material_id"].astype(str),
            n_elements=frame["n_elements"],
            structure=structures,
            energy_per_atom=frame["chgnet_energy_per_atom"].astype(float),
            authors_e_hull=frame["chgnet_e_above_hull_corrected"].astype(float),
            representation=reps,
            reason=[a or b for a, b in zip(reasons, rep_reasons, strict=True)],
        )
    )


def gene_samples(n: int, n_elements: Sequence[int] | None = BITERNARY) -> list[dict]:
    """The first `n` released genes with a valid representation, as `generate_structures` samples."""
    genes = load_genes(n_elements)
    genes = genes[genes["representation"].notna()].head(n)
    return [
        dict(sample_id=f"authors-{m}", tokens=r.as_dict(), pyxtal_args=r.to_pyxtal_args())
        for m, r in zip(genes["material_id"], genes["representation"], strict=True)
    ]
