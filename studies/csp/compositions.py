"""The CSP benchmark's compositions: a fixed, seeded, stratified draw of test-split formulas.

    WYLIB_DATA_DIR=../shared/data nice -n 19 .venv/bin/python -m studies.csp.compositions --n 200 --seed 0

Rule (studies/csp/README.md): the test split of mp_20_biternary_open, tokenized as the model's data; a formula is
eligible if its representative structure fits the committed model (elements and Wyckoff tokens in its vocabulary,
at most `max_sites` sites). The representative of a formula with several test structures is the one with the
lowest formation energy per atom (ties: the smaller material id); every test structure of the formula counts as a
match. Eligible formulas are split by whether their chemical system (the set of elements) occurs in train+val;
round(n x share_new) are drawn from the unseen systems and the rest from the seen ones, each without replacement by
`numpy.random.default_rng(seed)` from the formulas sorted by name; the list is then shuffled with the same generator,
so its first rows (`--limit` of the benchmark) mix both strata. Writes studies/csp/results/compositions.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from studies.csp.common import DATASET, RESULTS
from wylib.data import load_split, tokenize_split
from wylib.rediscovery import cif_reduced_formula
from wylib.train import load_run

COLUMNS = ["index", "material_id", "formula", "z", "atoms", "spacegroup", "system", "system_in_train_val",
           "n_test_structures", "material_ids"]  # fmt: skip


def system_of(formula: str) -> str:
    return "-".join(sorted(e.symbol for e in Composition(formula)))


def train_val_systems(dataset: str = DATASET) -> set[str]:
    cifs = [c for s in ("train", "val") for c in load_split(dataset, s)["cif"]]
    return {system_of(f) for c in cifs if (f := cif_reduced_formula(c))}


def eligible(vocab, dataset: str = DATASET) -> pd.DataFrame:
    """One row per test formula: its representative (lowest formation energy), z and atoms of the conventional
    cell, space group, chemical system, and all material ids of the formula; only formulas the model can hold."""
    frame = load_split(dataset, "test", ("material_id", "cif", "formation_energy_per_atom"))
    energy = dict(zip(frame["material_id"].astype(str), frame["formation_energy_per_atom"], strict=True))
    tok = tokenize_split(dataset, "test")
    rows = []
    for mid, rep in zip(tok.material_ids, tok.representations, strict=True):
        counts = {e: round(c) for e, c in rep.composition.as_dict().items()}
        comp = Composition(counts)
        reduced, z = comp.get_reduced_composition_and_factor()
        try:
            vocab.encode_tokens(rep)
            fits = rep.n_sites <= vocab.max_sites
        except ValueError:
            fits = False
        rows.append(dict(material_id=mid, formula=reduced.reduced_formula, z=int(z), atoms=int(comp.num_atoms),
                         spacegroup=rep.spacegroup, energy=energy[mid], fits=fits))  # fmt: skip
    df = pd.DataFrame(rows).sort_values(["formula", "energy", "material_id"])
    ids = df.groupby("formula")["material_id"].agg(lambda s: ";".join(sorted(s)))
    rep = df.groupby("formula").head(1).set_index("formula")
    rep = rep[rep["fits"]].assign(material_ids=ids, n_test_structures=ids.str.count(";") + 1)
    rep["system"] = [system_of(f) for f in rep.index]
    return rep.reset_index()


def draw(table: pd.DataFrame, known_systems: set[str], n: int = 200, share_new: float = 0.5, seed: int = 0):
    """The stratified draw (module docstring): `n` rows, round(n x share_new) with a system absent from train+val."""
    table = table.assign(system_in_train_val=table["system"].isin(known_systems)).sort_values("formula")
    rng = np.random.default_rng(seed)
    n_new = round(n * share_new)
    parts = []
    for seen, want in ((False, n_new), (True, n - n_new)):
        pool = table[table["system_in_train_val"] == seen]
        if want > len(pool):
            raise ValueError(f"{want} formulas wanted, {len(pool)} eligible with system_in_train_val={seen}")
        parts.append(pool.iloc[np.sort(rng.choice(len(pool), want, replace=False))])
    out = pd.concat(parts)
    out = out.iloc[rng.permutation(len(out))].reset_index(drop=True)
    return out.assign(index=range(len(out)))[COLUMNS]


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--share-new", type=float, default=0.5, help="share with a chemical system absent from train+val")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", default="runs/default")
    p.add_argument("--out", default=str(RESULTS / "compositions.csv"))
    args = p.parse_args(argv)
    _, vocab, _ = load_run(args.run, device="cpu")
    table, known = eligible(vocab), train_val_systems()
    out = draw(table, known, args.n, args.share_new, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    n_new_all = int((~table["system"].isin(known)).sum())
    n_new = int((~out["system_in_train_val"]).sum())
    print(f"{len(table)} eligible test formulas, {n_new_all} ({n_new_all / len(table):.1%}) with a system absent from "
          f"train+val; drew {len(out)}, {n_new} of them unseen -> {args.out}")  # fmt: skip
    return out


if __name__ == "__main__":
    main()
