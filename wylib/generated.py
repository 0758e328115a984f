"""The generated set as one table: tokens, pyXtal args, structures, energies, flags. Method: docs/relaxation.md."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pymatgen.core import Structure

from wylib.build import build_many, count_failures, trial_seed
from wylib.relax import RelaxConfig, best_trials, end_torn_line, n_workers_for, read_jsonl, relax_to_jsonl, usable
from wylib.sample import SampleResult, sample, spacegroup_counts
from wylib.tokens import WyckoffRepresentation
from wylib.train import load_run

COLUMNS = (
    "sample_id group tokens pyxtal_args n_trials n_built build_failures best_trial initial_structure structure "
    "energy_per_atom flag n_steps"
).split()


SAMPLE_FILES = ("samples.jsonl", "samples.jsonl.gz", "sequences.jsonl", "sequences.jsonl.gz")


def write_samples(records: Iterable[dict], path: str | Path) -> int:
    """Write sampled-sequence records (`SampleResult.records`) as JSON lines, atomically; returns the count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
            n += 1
    tmp.replace(path)
    return n


def find_samples(gen_dir: str | Path) -> Path | None:
    """The samples file of a generation directory (first of `SAMPLE_FILES` that exists), or None."""
    return next((Path(gen_dir) / f for f in SAMPLE_FILES if (Path(gen_dir) / f).exists()), None)


def read_sample_records(path: str | Path) -> list[dict]:
    """The records of a samples file (``.gz`` allowed); a line that is not JSON is a ValueError naming it."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{path}: line {i} is not valid JSON ({err.msg}); the file is incomplete or "
                    "corrupt, rerun the notebook that wrote it (04_generation)"
                ) from None
    return out


def read_samples(path: str | Path) -> list:
    """The sampled representations of a samples file, in order: `WyckoffRepresentation`, or None where invalid."""
    out = []
    for i, rec in enumerate(read_sample_records(path)):
        d = rec.get("representation") if isinstance(rec, dict) else None
        if d is None:
            out.append(None)
            continue
        try:
            out.append(WyckoffRepresentation.from_dict(d))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{path}: record {i} has an unreadable representation ({type(err).__name__}: {err})"
            ) from None
    return out


def as_sample(obj: Any, index: int) -> dict:
    """A sample dict from a `WyckoffRepresentation`, a pyXtal args dict or a dict with `pyxtal_args`."""
    if hasattr(obj, "to_pyxtal_args"):
        return dict(sample_id=str(index), tokens=obj.to_dict(), pyxtal_args=obj.to_pyxtal_args())
    if isinstance(obj, dict) and "pyxtal_args" in obj:
        return dict(
            sample_id=str(obj.get("sample_id", index)), tokens=obj.get("tokens"), pyxtal_args=obj["pyxtal_args"]
        )
    if isinstance(obj, dict):
        return dict(sample_id=str(index), tokens=None, pyxtal_args=obj)
    raise TypeError(f"cannot read a sample from {type(obj).__name__}")


def make_table(samples: Sequence[dict], builds: Sequence[list], relaxed: dict[str, dict]) -> pd.DataFrame:
    """One row per sample from build trials and the best relaxation record per sample."""
    rows = []
    for item, trials in zip(samples, builds, strict=True):
        sid = item["sample_id"]
        rec = relaxed.get(sid)
        ok = [s for s, _ in trials if s is not None]
        best = int(rec["id"].rsplit("/", 1)[1]) if rec else None
        good = rec is not None and usable(rec)
        args = item["pyxtal_args"]
        rows.append(
            dict(
                sample_id=sid,
                group=int(args["group"]) if isinstance(args, dict) and "group" in args else None,
                tokens=item.get("tokens"),
                pyxtal_args=args,
                n_trials=len(trials),
                n_built=len(ok),
                build_failures=count_failures([trials])["failures"],
                best_trial=best,
                initial_structure=trials[best][0].as_dict() if rec else None,
                structure=rec["structure"] if good else None,
                energy_per_atom=rec["energy_per_atom"] if good else None,
                flag=rec["flag"] if rec else ("build_failed" if not ok else "not_relaxed"),
                n_steps=rec["n_steps"] if rec else None,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def draw_samples(
    model,
    vocab,
    n_samples: int,
    dataset: str = "mp_20_biternary_open",
    *,
    temperature: float = 1.0,
    constrained: bool = False,
    seed: int = 0,
    device: str = "cpu",
    max_structures: int | None = None,
) -> SampleResult:
    """`n_samples` samples of a model as notebook 04 draws them (docs/relaxation.md, `wylib.generated`)."""
    counts = spacegroup_counts(dataset, max_structures=max_structures)
    options = dict(temperature=temperature, constrained=constrained, seed=seed, device=device)
    return sample(model, vocab, n_samples, spacegroup_distribution=counts, **options)


def valid_samples(res: SampleResult, n_valid: int) -> list[dict]:
    """The first `n_valid` formally valid samples as `generate_structures` input (id: index among all)."""
    chosen = [i for i, r in enumerate(res.representations) if r is not None][:n_valid]
    return [as_sample(res.representations[i], i) for i in chosen]


def model_samples(
    run_dir: str | Path,
    n_valid: int,
    dataset: str = "mp_20_biternary_open",
    n_samples: int = 10000,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[dict]:
    """The first `n_valid` valid of `n_samples` free samples of a run (CPU), as notebook 04 draws them."""
    model, vocab, _ = load_run(run_dir, device="cpu")
    res = draw_samples(model, vocab, n_samples, dataset, temperature=temperature, seed=seed, device="cpu")
    return valid_samples(res, n_valid)


def _build_key(sample: dict, n_trials: int, seed: int, primitive: bool) -> str:
    blob = json.dumps([sample["pyxtal_args"], n_trials, seed, primitive], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_samples(
    samples: Sequence[dict],
    path: str | Path,
    n_trials: int = 6,
    seed: int = 0,
    primitive: bool = True,
    n_workers: int = 1,
    progress: bool = True,
) -> list[list]:
    """pyXtal trials of every sample (sample i seeded `trial_seed(seed, i)`), cached in `path`, resumable."""
    path = Path(path)
    keys = [_build_key(s, n_trials, seed, primitive) for s in samples]
    cached = {}
    for rec in read_jsonl(path):
        cached[(rec["sample_id"], rec["key"])] = [
            (Structure.from_dict(st) if st is not None else None, reason) for st, reason in rec["trials"]
        ]
    todo = [i for i, s in enumerate(samples) if (s["sample_id"], keys[i]) not in cached]
    if todo:
        end_torn_line(path)
        args, seeds = [samples[i]["pyxtal_args"] for i in todo], [trial_seed(seed, i) for i in todo]
        built = build_many(args, seeds, n_trials, n_workers=n_workers, progress=progress, primitive=primitive)
        with path.open("a") as fh:
            for i, trials in zip(todo, built, strict=True):
                trials_json = [[st.as_dict() if st is not None else None, reason] for st, reason in trials]
                fh.write(json.dumps(dict(sample_id=samples[i]["sample_id"], key=keys[i], trials=trials_json)) + "\n")
                fh.flush()
                cached[(samples[i]["sample_id"], keys[i])] = trials
    return [cached[(s["sample_id"], k)] for s, k in zip(samples, keys, strict=True)]


def generate_structures(
    samples: Sequence[Any],
    out_dir: str | Path,
    *,
    n_trials: int = 6,
    seed: int = 0,
    config: RelaxConfig = RelaxConfig(),
    primitive: bool = True,
    n_workers: int | str = 1,
    progress: bool = True,
    **relax_kwargs,
) -> pd.DataFrame:
    """Build, relax (`relax_kwargs`: `relax_to_jsonl`'s, e.g. `scheduler`), keep the lowest-energy trial per sample."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = [as_sample(s, i) for i, s in enumerate(samples)]
    build_workers = n_workers_for(n_workers, config.device)  # pyXtal builds always run on this machine
    if len({s["sample_id"] for s in samples}) != len(samples):
        raise ValueError("sample ids must be unique")
    builds = build_samples(samples, out_dir / "builds.jsonl", n_trials, seed, primitive, build_workers, progress)
    stats = count_failures(builds)
    (out_dir / "build_stats.json").write_text(json.dumps(stats, indent=1))
    items = [
        (f"{s['sample_id']}/{t}", st)
        for s, trials in zip(samples, builds, strict=True)
        for t, (st, _) in enumerate(trials)
        if st is not None
    ]
    relax_kwargs.update(n_workers=n_workers, progress=progress)
    records = relax_to_jsonl(items, out_dir / "relax.jsonl", config, **relax_kwargs)
    wanted = {k for k, _ in items}
    table = make_table(samples, builds, best_trials(r for r in records if r["id"] in wanted))
    save_table(table, out_dir / "generated.jsonl")
    return table


def save_table(table: pd.DataFrame, path: str | Path) -> None:
    """JSON lines, one sample per line (no pyarrow needed)."""
    with Path(path).open("w") as fh:
        for rec in table.to_dict(orient="records"):
            fh.write(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}) + "\n")


def load_table(path: str | Path) -> pd.DataFrame:
    """Inverse of `save_table` (types kept: ids stay strings, structures stay dicts)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=COLUMNS if not rows else list(rows[0]))


def structures(table: pd.DataFrame, column: str = "structure") -> list[Structure | None]:
    """pymatgen Structures of a structure column (None where missing)."""
    return [Structure.from_dict(d) if isinstance(d, dict) else None for d in table[column]]
