"""Command line: `python -m wylib generate | tokenize | train` (targets, own data). Method: docs/usage.md."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from wylib import data
from wylib.constants import STABILITY_THRESHOLD
from wylib.targets import Target
from wylib.vocab import Vocabulary

SPLITS = ("train", "val", "test")


def _positive(text: str) -> int:
    if not text.lstrip("-").isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, not {text!r}")
    return int(text)


# ----------------------------------------------------------------------------- own data (CDVAE CSV of CIFs)
def tokenize_csv(csv: str | Path, n_jobs: int | None = None) -> dict:
    """Wyckoff representations of a CSV of CIFs (columns material_id, cif): {"ok": [[id, rep]], "failed": ...}."""
    csv = Path(csv)
    if not csv.is_file():
        raise FileNotFoundError(f"no CSV file {csv}")
    frame = data._read_csv(csv, data.DataFile("own", csv.stem, csv.name), ("material_id", "cif"))
    jobs = [(str(m), c, 0.1, 5.0) for m, c in zip(frame["material_id"], frame["cif"], strict=True)]
    results = data._map(data._tokenize_one, jobs, n_jobs, f"tokenize {csv.name}")
    out = {"ok": [[m, d] for m, d, r in results if r is None], "failed": [[m, r] for m, d, r in results if r]}
    if not out["ok"]:
        raise ValueError(f"{csv}: none of its {len(jobs)} CIFs could be tokenized")
    return out


def _write_tokens(tokens: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        json.dump(tokens, f)
    return path


def _encode(tokens: dict, vocab: Vocabulary):
    from wylib.tokens import WyckoffRepresentation

    reps = []
    for _, d in tokens["ok"]:
        rep = WyckoffRepresentation.from_dict(d)
        try:
            vocab.encode_tokens(rep)
            reps.append(rep)
        except ValueError:
            pass  # more sites than max_sites or an element outside the train split
    return vocab.encode(reps), reps


def train_csv(csv_dir: str | Path, run_dir: str | Path, max_epochs: int = 60, seed: int = 0, n_jobs=None) -> dict:
    """Tokenize csv_dir/{train,val[,test]}.csv and train ModelConfig.default() on them (as notebook 02 does)."""
    from wylib.model import ModelConfig
    from wylib.symmetry import spacegroup_features
    from wylib.train import TrainConfig, train

    csv_dir, run_dir = Path(csv_dir), Path(run_dir)
    for split in ("train", "val"):
        if not (csv_dir / f"{split}.csv").is_file():
            raise FileNotFoundError(f"{csv_dir} needs train.csv and val.csv (CDVAE layout; test.csv optional)")
    tokens = {s: tokenize_csv(csv_dir / f"{s}.csv", n_jobs) for s in SPLITS if (csv_dir / f"{s}.csv").is_file()}
    for s, tok in tokens.items():
        _write_tokens(tok, run_dir / "tokens" / f"{s}.json.gz")
    from wylib.tokens import WyckoffRepresentation

    vocab = Vocabulary.from_training([WyckoffRepresentation.from_dict(d) for _, d in tokens["train"]["ok"]])
    encoded = {s: _encode(tok, vocab) for s, tok in tokens.items()}
    counts = np.bincount([r.spacegroup for s in ("train", "val") for r in encoded[s][1]], minlength=231)
    feats = spacegroup_features()
    mcfg = ModelConfig.default(
        n_elements=vocab.n_elements,
        n_site_symmetries=vocab.n_site_symmetries,
        n_enumerations=vocab.n_enumerations,
        n_sg_features=feats.shape[1],
    )
    cfg = TrainConfig(seed=seed, max_epochs=max_epochs, max_sites=vocab.max_sites)
    extra = {
        "dataset": f"csv:{csv_dir.resolve()}",
        "csv_dir": str(csv_dir.resolve()),
        "spacegroup_counts": counts.tolist(),
    }
    test = encoded["test"][0] if "test" in encoded else None
    return train(mcfg, cfg, encoded["train"][0], encoded["val"][0], run_dir, feats, vocab, test, extra)


def known_structures(config: dict, formulas: set[str]) -> list[Structure]:
    """Train+val structures of a run's data (registry data set or own CSVs) whose reduced formula is in `formulas`."""
    from wylib.rediscovery import cif_reduced_formula

    if "csv_dir" in config:
        frames = [pd.read_csv(Path(config["csv_dir"]) / f"{s}.csv") for s in ("train", "val")]
    else:
        frames = [data.load_split(config["dataset"], s) for s in ("train", "val")]
    cifs = [c for f in frames for c in f["cif"] if cif_reduced_formula(c) in formulas]
    return [s for s in data.parse_structures(cifs, n_jobs=1)[0] if s is not None]


# ----------------------------------------------------------------------------- generate
def generate(args: argparse.Namespace) -> pd.DataFrame:
    """Sample (targeted), build with pyXtal, optionally relax with CHGNet; CIFs + table in args.out."""
    from wylib import metrics
    from wylib.generated import build_samples, generate_structures, make_table, valid_samples
    from wylib.hull import e_above_hull_table
    from wylib.relax import RelaxConfig
    from wylib.sample import sample, spacegroup_counts
    from wylib.train import load_run

    options = dict(spacegroups=args.spacegroup, elements=args.elements, required=args.require, z=args.z)
    options |= dict(composition=args.composition, max_atoms=args.max_atoms, max_sites=args.max_sites)
    target = Target.parse(**options) if any(v is not None for v in options.values()) else None
    if not Path(args.run).is_dir():
        raise FileNotFoundError(f"no run directory {args.run}")
    model, vocab, config = load_run(args.run, device=args.device)
    if target is not None:
        target.check(vocab, model.cfg.distinct_max if model.cfg.arity else None)
    if "spacegroup_counts" in config:
        prior = torch.tensor(config["spacegroup_counts"], dtype=torch.float64)
    else:
        prior = spacegroup_counts(config["dataset"])
    res = sample(
        model, vocab, args.n, spacegroup_distribution=prior, temperature=args.temperature, constrained=True,
        seed=args.seed, device=args.device, target=target,
    )  # fmt: skip
    samples = valid_samples(res, args.n)
    out = Path(args.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    if args.relax:
        cfg = RelaxConfig(steps=args.steps)
        table = generate_structures(samples, work, n_trials=args.trials, seed=args.seed, config=cfg)
        structures = [Structure.from_dict(d) if isinstance(d, dict) else None for d in table["structure"]]
    else:
        builds = build_samples(samples, work / "builds.jsonl", args.trials, args.seed)
        table = make_table(samples, builds, {})
        structures = [next((s for s, _ in trials if s is not None), None) for trials in builds]
    energies = [e if e is not None else np.nan for e in table["energy_per_atom"]]
    comps = [s.composition if s is not None else "" for s in structures]
    hull = e_above_hull_table(comps, energies)
    formulas = {s.composition.reduced_formula for s in structures if s is not None}
    novel = metrics.novelty_mask(structures, known_structures(config, formulas))
    unique = metrics.uniqueness_mask(structures)
    (out / "cif").mkdir(exist_ok=True)
    rows = []
    for i, (s, item) in enumerate(zip(structures, samples, strict=True)):
        cif = None
        if s is not None:
            cif = f"cif/{item['sample_id']}.cif"
            CifWriter(s).write_file(out / cif)
        hull_flag = "no_energy" if not np.isfinite(energies[i]) else hull["flag"][i]
        if hull_flag == "ok" and not hull["complete_binary_subsystems"][i]:
            hull_flag = "hull_lacks_binaries"
        rows.append({
            "sample_id": item["sample_id"], "spacegroup": int(item["pyxtal_args"]["group"]),
            "formula": s.composition.reduced_formula if s is not None else None,
            "n_atoms": len(s) if s is not None else 0, "wyckoff": str(res.representations[int(item["sample_id"])]),
            "trials": int(table["n_trials"][i]), "built": int(table["n_built"][i]),
            "energy_per_atom": energies[i], "e_hull": hull["e_hull"][i], "hull_flag": hull_flag,
            "stable": bool(hull["e_hull"][i] <= STABILITY_THRESHOLD), "novel": bool(novel[i]),
            "unique": bool(unique[i]), "flag": table["flag"][i], "cif": cif,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(out / "candidates.csv", index=False)
    (out / "candidates.md").write_text(df.drop(columns="wyckoff").to_markdown(index=False, floatfmt=".3f") + "\n")
    meta = {"run": str(args.run), "target": target.as_dict() if target else None, "n": args.n, "seed": args.seed}
    (out / "target.json").write_text(json.dumps(meta | {"relax": args.relax, "trials": args.trials}, indent=1))
    return df


def _summary(df: pd.DataFrame, out: str) -> str:
    built = int(df["cif"].notna().sum())
    stable = int(df["stable"].sum())
    return (
        f"{len(df)} candidates, {built} built, {int(df['unique'].sum())} unique, {int(df['novel'].sum())} novel, "
        f"{stable} with E_hull <= {STABILITY_THRESHOLD} eV/atom -> {out}/candidates.csv, .md, cif/"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wylib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="candidates for a target: sample, build (pyXtal), relax (CHGNet), table")
    g.add_argument("--run", default="runs/default", help="run directory (default: the committed model)")
    g.add_argument("--spacegroup", help='allowed space group(s), e.g. "225" or "225,221"')
    g.add_argument("--elements", help='allowed elements (a chemical system), e.g. "Li,Mn,O"')
    g.add_argument("--require", help='elements every candidate contains, e.g. "Li"')
    g.add_argument("--composition", help='exact composition up to formula units, e.g. "Li2MnO3"')
    g.add_argument("--z", help='allowed formula units of the composition, e.g. "4" or "2,4"')
    g.add_argument("--max-atoms", type=_positive, help="atoms in the conventional cell at most")
    g.add_argument("--max-sites", type=_positive, help="Wyckoff sites at most")
    g.add_argument("--n", type=_positive, default=100, help="samples (default 100)")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--relax", action="store_true", help="relax with CHGNet (else energies and E_hull are NaN)")
    g.add_argument("--trials", type=_positive, default=1, help="pyXtal trials per sample (lowest energy kept)")
    g.add_argument("--steps", type=_positive, default=500, help="FIRE steps per relaxation phase")
    g.add_argument("--device", default="cpu")
    g.add_argument("--out", required=True, help="output directory")
    t = sub.add_parser("tokenize", help="Wyckoff representations of a CSV of CIFs (columns material_id, cif)")
    t.add_argument("--csv", required=True)
    t.add_argument("--out", required=True, help="directory; writes <csv stem>.tokens.json.gz")
    t.add_argument("--n-jobs", type=_positive)
    r = sub.add_parser("train", help="train on a directory with train.csv, val.csv (test.csv) of CIFs")
    r.add_argument("--csv-dir", required=True)
    r.add_argument("--out", required=True, help="run directory (then: generate --run OUT)")
    r.add_argument("--max-epochs", type=_positive, default=60)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--n-jobs", type=_positive)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "generate":
            print(_summary(generate(args), args.out))
        elif args.command == "tokenize":
            tokens = tokenize_csv(args.csv, args.n_jobs)
            path = _write_tokens(tokens, Path(args.out) / f"{Path(args.csv).stem}.tokens.json.gz")
            print(f"{len(tokens['ok'])} structures tokenized, {len(tokens['failed'])} failed -> {path}")
        else:
            m = train_csv(args.csv_dir, args.out, args.max_epochs, args.seed, args.n_jobs)
            print(f"trained {m['rounds']} epochs, best val NLL {m['best_val_nll']:.3f} -> {args.out}")
    except (ValueError, FileNotFoundError, KeyError) as err:
        msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        print(
            f"python -m wylib {args.command}: error: {msg.splitlines()[0] if msg else type(err).__name__}",
            file=sys.stderr,
        )
        return 2
    return 0
