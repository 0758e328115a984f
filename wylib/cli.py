"""Command line: `python -m wylib generate | tokenize | train` (targets, own data). Method: docs/usage.md."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from wylib import data, metrics
from wylib.constants import STABILITY_THRESHOLD
from wylib.generated import build_samples, generate_structures, make_table, valid_samples
from wylib.hull import e_above_hull_table
from wylib.model import ModelConfig
from wylib.rediscovery import cif_reduced_formula
from wylib.relax import RelaxConfig
from wylib.sample import sample, spacegroup_counts
from wylib.symmetry import spacegroup_features
from wylib.targets import Target
from wylib.tokens import WyckoffRepresentation
from wylib.train import TrainConfig, load_run, train
from wylib.vocab import Vocabulary


def _positive(text: str) -> int:
    if not text.lstrip("-").isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, not {text!r}")
    return int(text)


# ----------------------------------------------------------------------------- own data (CDVAE CSV of CIFs)
def tokenize_csv(csv: str | Path, out: Path | None = None, n_jobs: int | None = None) -> dict:
    """Wyckoff representations of a CSV of CIFs (columns material_id, cif): {"ok": [[id, rep]], "failed": ...},
    also written to `out` (.json.gz) if given."""
    if not (csv := Path(csv)).is_file():
        raise FileNotFoundError(f"no CSV file {csv}")
    frame = data._read_csv(csv, data.DataFile("own", csv.stem, csv.name), ("material_id", "cif"))
    jobs = [(str(m), c, 0.1, 5.0) for m, c in zip(frame["material_id"], frame["cif"], strict=True)]
    results = data._map(data._tokenize_one, jobs, n_jobs, f"tokenize {csv.name}")
    tokens = {"ok": [[m, d] for m, d, r in results if r is None], "failed": [[m, r] for m, d, r in results if r]}
    if not tokens["ok"]:
        raise ValueError(f"{csv}: none of its {len(jobs)} CIFs could be tokenized")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(out, "wt") as f:
            json.dump(tokens, f)
    return tokens


def train_csv(csv_dir: str | Path, run_dir: str | Path, max_epochs: int = 60, seed: int = 0, n_jobs=None) -> dict:
    """Tokenize csv_dir/{train,val[,test]}.csv (tokens kept in run_dir/tokens) and train ModelConfig.default() on
    them with `wylib.train.train`, as notebook 02 trains on a registry data set."""
    csv_dir, run_dir = Path(csv_dir), Path(run_dir)
    if not all((csv_dir / f"{s}.csv").is_file() for s in ("train", "val")):
        raise FileNotFoundError(f"{csv_dir} needs train.csv and val.csv (CDVAE layout; test.csv optional)")
    reps = {
        s: [WyckoffRepresentation.from_dict(d) for _, d in tokenize_csv(path, run_dir / "tokens" / f"{s}.json.gz",
                                                                           n_jobs)["ok"]]
        for s in ("train", "val", "test") if (path := csv_dir / f"{s}.csv").is_file()
    }  # fmt: skip
    vocab = Vocabulary.from_training(reps["train"])
    fits = {s: [r for r in v if r.n_sites <= vocab.max_sites and set(r.elements) <= set(vocab.elements)]
            for s, v in reps.items()}  # fmt: skip
    counts = np.bincount([r.spacegroup for s in ("train", "val") for r in fits[s]], minlength=231).tolist()
    feats = spacegroup_features()
    sizes = dict(zip(("n_elements", "n_site_symmetries", "n_enumerations"), vocab.sizes, strict=True))
    mcfg = ModelConfig.default(**sizes, n_sg_features=feats.shape[1])
    cfg = TrainConfig(seed=seed, max_epochs=max_epochs, max_sites=vocab.max_sites)
    extra = {"dataset": f"csv:{csv_dir.resolve()}", "csv_dir": str(csv_dir.resolve()), "spacegroup_counts": counts}
    enc = {s: vocab.encode(v) for s, v in fits.items()}
    return train(mcfg, cfg, enc["train"], enc["val"], run_dir, feats, vocab, enc.get("test"), extra)


def known_structures(config: dict, formulas: set[str]) -> list[Structure]:
    """Train+val structures of a run's data (registry data set or own CSVs) whose reduced formula is in `formulas`."""
    if "csv_dir" in config:
        frames = [pd.read_csv(Path(config["csv_dir"]) / f"{s}.csv") for s in ("train", "val")]
    else:
        frames = [data.load_split(config["dataset"], s) for s in ("train", "val")]
    cifs = [c for f in frames for c in f["cif"] if cif_reduced_formula(c) in formulas]
    return [s for s in data.parse_structures(cifs, n_jobs=1)[0] if s is not None]


# ----------------------------------------------------------------------------- a target in, candidates out
def candidates(run: str | Path, target: Target | None, out: str | Path, n: int = 100, temperature: float = 1.0,
               seed: int = 0, relax: bool = False, trials: int = 1, steps: int = 500, device: str = "cpu"
               ) -> pd.DataFrame:  # fmt: skip
    """Sample n (targeted, grammar-constrained) from a run, build with pyXtal (`trials` per sample), relax with
    CHGNet if `relax` (lowest-energy trial kept); writes out/cif/*.cif, out/candidates.csv and .md, target.json."""
    if not Path(run).is_dir():
        raise FileNotFoundError(f"no run directory {run}")
    model, vocab, config = load_run(run, device=device)
    if target is not None:
        target.check(vocab, model.cfg.distinct_max if model.cfg.arity else None)
    prior = config.get("spacegroup_counts") or spacegroup_counts(config["dataset"])
    res = sample(model, vocab, n, spacegroup_distribution=prior, temperature=temperature, constrained=True, seed=seed,
                 device=device, target=target)  # fmt: skip
    samples, out = valid_samples(res, n), Path(out)
    (out / "work").mkdir(parents=True, exist_ok=True)
    if relax:
        table = generate_structures(samples, out / "work", n_trials=trials, seed=seed, config=RelaxConfig(steps=steps))
        structures = [Structure.from_dict(d) if isinstance(d, dict) else None for d in table["structure"]]
    else:
        builds = build_samples(samples, out / "work" / "builds.jsonl", trials, seed)
        table = make_table(samples, builds, {})
        structures = [next((s for s, _ in trial if s is not None), None) for trial in builds]
    energies = [np.nan if e is None else e for e in table["energy_per_atom"]]
    hull = e_above_hull_table([s.composition if s else "" for s in structures], energies)
    known = known_structures(config, {s.composition.reduced_formula for s in structures if s is not None})
    novel, unique = metrics.novelty_mask(structures, known), metrics.uniqueness_mask(structures)
    (out / "cif").mkdir(exist_ok=True)
    rows = []
    for i, (s, item) in enumerate(zip(structures, samples, strict=True)):
        if cif := s and f"cif/{item['sample_id']}.cif":
            CifWriter(s).write_file(out / cif)
        flag = "no_energy" if np.isnan(energies[i]) else hull["flag"][i]
        flag = "hull_lacks_binaries" if flag == "ok" and not hull["complete_binary_subsystems"][i] else flag
        rows.append({
            "sample_id": item["sample_id"], "spacegroup": int(item["pyxtal_args"]["group"]),
            "formula": s.composition.reduced_formula if s else None, "n_atoms": len(s) if s else 0,
            "wyckoff": str(res.representations[int(item["sample_id"])]), "trials": int(table["n_trials"][i]),
            "built": int(table["n_built"][i]), "energy_per_atom": energies[i], "e_hull": hull["e_hull"][i],
            "hull_flag": flag, "stable": bool(hull["e_hull"][i] <= STABILITY_THRESHOLD), "novel": bool(novel[i]),
            "unique": bool(unique[i]), "flag": table["flag"][i], "cif": cif or None,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(out / "candidates.csv", index=False)
    (out / "candidates.md").write_text(df.drop(columns="wyckoff").to_markdown(index=False, floatfmt=".3f") + "\n")
    meta = dict(run=str(run), target=target.as_dict() if target else None, n=n, seed=seed, relax=relax, trials=trials)
    (out / "target.json").write_text(json.dumps(meta, indent=1))
    return df


def _summary(df: pd.DataFrame, out: str) -> str:
    n = {k: int(df[k].sum()) for k in ("unique", "novel", "stable")} | {"built": int(df["cif"].notna().sum())}
    return (f"{len(df)} candidates, {n['built']} built, {n['unique']} unique, {n['novel']} novel, {n['stable']} with "
            f"E_hull <= {STABILITY_THRESHOLD} eV/atom -> {out}/candidates.csv, .md, cif/")  # fmt: skip


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
            names = ("spacegroup", "elements", "require", "composition", "max_atoms", "max_sites", "z")
            options = [getattr(args, k) for k in names]
            target = Target.parse(*options) if any(v is not None for v in options) else None
            run = (args.run, target, args.out, args.n, args.temperature, args.seed, args.relax, args.trials, args.steps)
            print(_summary(candidates(*run, device=args.device), args.out))
        elif args.command == "tokenize":
            path = Path(args.out) / f"{Path(args.csv).stem}.tokens.json.gz"
            tokens = tokenize_csv(args.csv, path, args.n_jobs)
            print(f"{len(tokens['ok'])} structures tokenized, {len(tokens['failed'])} failed -> {path}")
        else:
            m = train_csv(args.csv_dir, args.out, args.max_epochs, args.seed, args.n_jobs)
            print(f"trained {m['rounds']} epochs, best val NLL {m['best_val_nll']:.3f} -> {args.out}")
    except (ValueError, FileNotFoundError, KeyError) as err:
        msg = (str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)) or type(err).__name__
        print(f"python -m wylib {args.command}: error: {msg.splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
