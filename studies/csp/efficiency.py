"""Efficiency of targets: candidates per minute that are in a chemical system, valid, unique, novel and stable,
targeted (`Target(elements=system, required=all)`) against the unconstrained model filtered to the system.

    WYLIB_DATA_DIR=../shared/data nice -n 19 .venv/bin/python -m studies.csp.efficiency --out output/csp_efficiency
    # pilot: 2 systems, 8 candidates each, 100 FIRE steps
    WYLIB_DATA_DIR=../shared/data nice -n 19 .venv/bin/python -m studies.csp.efficiency --systems 2 --n 8 \
        --steps 100 --cap 20000 --name pilot_efficiency --out output/csp_efficiency_pilot

Systems: drawn from the test split's chemical systems (elements in the model's vocabulary) by
`numpy.random.default_rng(seed)`, 5 binaries (3 present in train+val, 2 absent) and 5 ternaries (2 present,
3 absent); `--systems N` keeps the first N (alternating binary and ternary, present and absent). Per system and
method: n candidates (targeted: n samples; filtered: valid samples of one unconstrained stream shared by the
systems whose element set is the system, until n or the cap), 1 pyXtal trial, CHGNet FIRE (fmax 0.05, --steps),
then valid (relaxed, usable), unique (StructureMatcher within the method's candidates of the system), novel
(unique and unmatched in train+val, StructureMatcher), stable (E_hull <= 0.08 eV/atom on wylib.hull's default
hull; `hull_lacks_binaries` where a pair of the system's elements has no reference compound), sun (unique, novel
and stable). Minutes: sampling (filtered: the stream's seconds per sample times the samples it needed for this
system) + building + relaxation + scoring, summed over resumed runs, as wall time and as CPU time; the comparison is
per CPU minute (`sun_per_cpu_minute`), which other load on a shared machine does not inflate: run with --workers 0
(the default), so that all work is in this process. Resumable like the benchmark.

Across sessions: `--rows 0:2` builds, relaxes and scores only those of the drawn systems and writes
<name>_rows_000-002.*; the unconstrained stream is always drawn for all of them (a minute), so a part's rows equal
those of a full run. `--combine` writes <name>.* from the committed parts.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure

from studies.csp.common import (
    DATASET,
    Clock,
    add_common_arguments,
    build_and_relax,
    cpu_seconds,
    get_logger,
    machine_name,
    parse_rows,
    read_parts,
    run_conditions,
    single_thread,
)
from studies.csp.compositions import system_of, train_val_systems
from studies.provenance import command_line
from wylib import metrics
from wylib.build import trial_seed
from wylib.cli import known_structures
from wylib.constants import STABILITY_THRESHOLD
from wylib.data import tokenize_split
from wylib.generated import as_sample
from wylib.hull import default_hull, e_above_hull_table
from wylib.metrics.bootstrap import bootstrap_ci
from wylib.sample import sample, spacegroup_counts
from wylib.targets import Target
from wylib.train import load_run

PLAN = ((2, True, 3), (2, False, 2), (3, True, 2), (3, False, 3))  # (elements, in train+val, how many)


def pick_systems(vocab, known: set[str], seed: int = 0) -> list[str]:
    """10 test-split systems (module docstring), alternating binary and ternary."""
    systems = sorted({system_of(str(r.composition.reduced_formula)) for r in tokenize_split(DATASET, "test")
                      .representations})  # fmt: skip
    systems = [s for s in systems if set(s.split("-")) <= set(vocab.elements)]
    rng = np.random.default_rng(seed)
    drawn = {}
    for n_el, seen, how_many in PLAN:
        pool = [s for s in systems if s.count("-") == n_el - 1 and (s in known) == seen]
        drawn[n_el, seen] = [pool[i] for i in np.sort(rng.choice(len(pool), how_many, replace=False))]
    binaries = _interleave(drawn[2, True], drawn[2, False])  # seen, unseen, seen, unseen, seen
    ternaries = _interleave(drawn[3, False], drawn[3, True])  # unseen, seen, unseen, seen, unseen
    return [s for pair in zip(binaries, ternaries, strict=True) for s in pair]


def _interleave(a: list, b: list) -> list:
    return [x for pair in itertools.zip_longest(a, b) for x in pair if x is not None]


def hull_lacks_binaries(system: str) -> bool:
    hull = default_hull()
    return not all(frozenset(p) in hull.by_system for p in itertools.combinations(system.split("-"), 2))


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def targeted(model, vocab, prior, system: str, n: int, seed: int, index: int) -> list[dict]:
    els = system.replace("-", ",")
    res = sample(model, vocab, n, target=Target.parse(elements=els, required=els), spacegroup_distribution=prior,
                 seed=trial_seed(seed, index), device="cpu", progress=False)  # fmt: skip
    return [as_sample(r, 0) | {"sample_id": f"{system}_{j:03d}"} for j, r in enumerate(res.representations) if r]


def filtered(model, vocab, prior, systems: list[str], n: int, seed: int, cap: int, batch: int, state: dict, save):
    """One unconstrained stream; a valid sample whose element set is a system's joins it until it has n."""
    found = state.setdefault("found", {})
    state.setdefault("sampled", 0)
    for s in systems:
        found.setdefault(s, [])
    while state["sampled"] < cap and any(len(found[s]) < n for s in systems):
        m, b = min(batch, cap - state["sampled"]), state["sampled"] // batch
        t0, c0 = time.perf_counter(), cpu_seconds()
        res = sample(model, vocab, m, spacegroup_distribution=prior, constrained=True,
                     seed=trial_seed(seed, 10**6 + b), device="cpu", progress=False)  # fmt: skip
        for i, r in enumerate(res.representations):
            if r is not None and (s := "-".join(sorted(r.elements))) in found and len(found[s]) < n:
                found[s].append([state["sampled"] + i, as_sample(r, 0) | {"sample_id": f"{s}_{len(found[s]):03d}"}])
        state["sampled"] += m
        state["seconds"] = state.get("seconds", 0.0) + time.perf_counter() - t0
        state["cpu"] = state.get("cpu", 0.0) + cpu_seconds() - c0
        save(state)
    return state


def score(table: pd.DataFrame, known: list[Structure]) -> dict:
    structures = [Structure.from_dict(d) if isinstance(d, dict) else None for d in table["structure"]]
    energies = [np.nan if e is None else e for e in table["energy_per_atom"]]
    valid = np.array([s is not None for s in structures], dtype=bool)
    hull = e_above_hull_table([s.composition if s else "" for s in structures], energies)
    unique = metrics.uniqueness_mask(structures) & valid
    novel = metrics.novelty_mask(structures, known) & valid
    stable = (hull["e_hull"].to_numpy() <= STABILITY_THRESHOLD) & valid
    sun = unique & novel & stable
    return dict(candidates=len(table), valid=int(valid.sum()), unique=int(unique.sum()),
                novel=int((unique & novel).sum()), stable=int(stable.sum()), sun=int(sun.sum()))  # fmt: skip


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", type=int, default=10, help="the first N of the 10 drawn systems")
    p.add_argument("--n", type=int, default=30, help="candidates per system and method")
    p.add_argument("--rows", help="START:STOP, a slice of the drawn systems (one part of a run over sessions)")
    p.add_argument("--combine", action="store_true", help="write <name>.* from the parts <name>_rows_*")
    add_common_arguments(p, "output/csp_efficiency", "efficiency")
    args = p.parse_args(argv)
    if args.combine:
        return combine(Path(args.results), args.name, args.n, args.systems)
    rows = parse_rows(args.rows) if args.rows else slice(None)
    if args.rows:
        args.name = f"{args.name}_rows_{rows.start:03d}-{rows.stop:03d}"
    single_thread()
    start, out = time.perf_counter(), Path(args.out)
    log = get_logger(out / "efficiency.log", "csp.efficiency")
    log.info(f"start: {command_line('studies.csp.efficiency')}")
    model, vocab, _ = load_run(args.run, device="cpu")
    known_sys = train_val_systems()
    systems = pick_systems(vocab, known_sys, args.seed)[: args.systems]
    log.info(f"systems: {systems}")
    prior = spacegroup_counts(DATASET)
    stream_path = out / "filtered" / "stream.json"
    stream = _load(stream_path)
    if stream.get("key") != (key := f"n={args.n} seed={args.seed} cap={args.cap} batch={args.batch} {systems}"):
        stream = {"key": key}

    def saved(state: dict) -> None:
        _save(stream_path, state)
        log.info(f"filtered stream: {state['sampled']} samples")

    with torch.no_grad():
        filtered(model, vocab, prior, systems, args.n, args.seed, args.cap, args.batch, stream, saved)
    per_sample = stream["seconds"] / max(stream["sampled"], 1)
    per_sample_cpu = stream.get("cpu", stream["seconds"]) / max(stream["sampled"], 1)
    table_rows = []
    for i, system in list(enumerate(systems))[rows]:
        for method in ("targeted", "filtered"):
            work = out / method / system
            work.mkdir(parents=True, exist_ok=True)
            clock = Clock(work / "clock.json")
            cache = _load(work / "samples.json")
            if method == "filtered":
                got = stream["found"][system]
                samples = [s for _, s in got]
                needed = got[-1][0] + 1 if len(got) >= args.n else stream["sampled"]
                clock.seconds["sample"], clock.cpu["sample"] = needed * per_sample, needed * per_sample_cpu
            elif cache.get("key") == key:
                samples, needed = cache["samples"], args.n
            else:
                with clock.stage("sample"), torch.no_grad():
                    samples, needed = targeted(model, vocab, prior, system, args.n, args.seed, i), args.n
                _save(work / "samples.json", {"key": key, "samples": samples})
            table = build_and_relax(samples, work, clock, args)
            formulas = {Structure.from_dict(d).composition.reduced_formula for d in table["structure"]
                        if isinstance(d, dict)}  # fmt: skip
            with clock.stage("score", redo=True):
                counts = score(table, known_structures({"dataset": DATASET}, formulas))
            minutes, cpu_minutes = clock.total() / 60, clock.total(cpu=True) / 60
            lacks = hull_lacks_binaries(system)
            table_rows.append(dict(system=system, in_train_val=system in known_sys, hull_lacks_binaries=lacks,
                method=method, samples=needed, **counts, minutes=round(minutes, 2),
                cpu_minutes=round(cpu_minutes, 2), sun_per_cpu_minute=counts["sun"] / cpu_minutes if cpu_minutes
                else np.nan))  # fmt: skip
            log.info(", ".join(f"{k}={v}" for k, v in table_rows[-1].items()))
    frame = pd.DataFrame(table_rows)
    seconds = time.perf_counter() - start
    head = [
        f"- command: `{command_line('studies.csp.efficiency')}`",
        f"- machine: {machine_name()}, {run_conditions(args.workers)}; date {datetime.datetime.now():%Y-%m-%d %H:%M}; "
        f"wall time of this invocation {seconds:.0f} s",
    ]
    got = frame["system"].nunique()
    title = f"{got} system{'s' * (got != 1)}{' (PILOT)' if 'pilot' in args.name else ''}"
    write(frame, Path(args.results), args.name, title, args.n, [*head, protocol(args.steps)])
    return frame


def combine(res_dir: Path, name: str, n: int, n_systems: int) -> pd.DataFrame:
    """<name>.{csv,md} from the parts <name>_rows_*.csv (a system in two parts is an error), their command and
    machine lines listed; marked PARTIAL until they cover the drawn systems."""
    parts, frame = read_parts(res_dir, f"{name}_rows_*.csv", ["system", "method"], "a system")
    head = [f"Combined from {len(parts)} parts (`python -m studies.csp.efficiency --combine --name {name}`):"]
    protocols = set()
    for f in parts:
        text = f.with_suffix(".md").read_text().splitlines()
        head += [f"- `{f.stem}`:"] + ["  " + ln for ln in text if ln.startswith(("- command", "- machine"))]
        protocols |= {ln for ln in text if ln.startswith("- 1 pyXtal trial")}
    if len(protocols) != 1:
        raise SystemExit(f"the parts differ in protocol: {sorted(protocols)}")
    got = frame["system"].nunique()
    title = f"{got} system{'s' * (got != 1)}" + ("" if got >= n_systems else f" (PARTIAL: {got} of {n_systems})")
    write(frame, res_dir, name, title, n, [*head, *protocols])
    return frame


def protocol(steps: int) -> str:
    return (
        f"- 1 pyXtal trial, CHGNet FIRE fmax 0.05, {steps} steps per phase; `novel`: unique and novel; "
        f"`stable`: E_hull <= {STABILITY_THRESHOLD}; `sun`: unique, novel and stable; `minutes` (wall) and "
        "`cpu_minutes` (CPU time of this process: with --workers 0 all of the work, unaffected by other load): sampling"
        " + building + relaxation + scoring; on a free machine with n cores, wall = cpu_minutes / n at best"
    )


def rate_intervals(frame: pd.DataFrame, n_boot: int = 2000) -> dict[str, str]:
    """S.U.N. per CPU minute over all systems (sum of sun / sum of cpu_minutes) per method and targeted minus
    filtered, each with a 95 % bootstrap interval resampling systems (paired: a system brings both its rows)."""
    sun = frame.pivot(index="system", columns="method", values="sun")
    cpu = frame.pivot(index="system", columns="method", values="cpu_minutes")

    def rate(i: np.ndarray, m: str) -> float:
        return sun[m].to_numpy()[i].sum() / cpu[m].to_numpy()[i].sum()

    idx = np.arange(len(sun))
    stats = {m: (lambda i, m=m: rate(i, m)) for m in sun.columns}
    if {"targeted", "filtered"} <= set(sun.columns):
        stats["targeted - filtered"] = lambda i: rate(i, "targeted") - rate(i, "filtered")
    return {k: str(bootstrap_ci(f, idx, n_boot=n_boot, seed=0)) for k, f in stats.items()}


def write(frame: pd.DataFrame, res_dir: Path, name: str, title: str, n: int, head: list[str]) -> None:
    res_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(res_dir / f"{name}.csv", index=False)
    cols = ["candidates", "valid", "unique", "novel", "stable", "sun", "minutes", "cpu_minutes"]
    total = frame.groupby("method")[cols].sum()
    total["sun_per_cpu_minute"] = total["sun"] / total["cpu_minutes"]
    intervals = rate_intervals(frame)
    total["95 % CI (bootstrap over systems)"] = [intervals[m] for m in total.index]
    lines = [
        f"# Efficiency of targets: {title}, {n} candidates per system and method",
        "",
        *head,
        "",
        "## All systems",
        "",
        total.reset_index().to_markdown(index=False, floatfmt=".3f"),
        "",
        f"Targeted minus filtered, S.U.N. per CPU minute: {intervals.get('targeted - filtered', 'n/a')} (95 % "
        "bootstrap interval over systems, 2,000 replicates, seed 0; one sampling seed).",
        "",
        "## Per system",
        "",
        frame.to_markdown(index=False, floatfmt=".3f"),
    ]
    (res_dir / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
