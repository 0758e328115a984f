"""The CSP benchmark: for each drawn test composition, k candidates per method, built with pyXtal, relaxed with
CHGNet, matched against the composition's test structures (studies/csp/README.md).

    WYLIB_DATA_DIR=../shared/data nice -n 19 .venv/bin/python -m studies.csp.benchmark --out output/csp
    # pilot: the first 5 compositions, 4 candidates, 100 FIRE steps
    WYLIB_DATA_DIR=../shared/data nice -n 19 .venv/bin/python -m studies.csp.benchmark --limit 5 --k 4 --steps 100 \
        --cap 20000 --name pilot_csp --out output/csp_pilot

Resumable: rerun the same command after a kill; samples (samples.json), pyXtal builds and relaxations
(`generate_structures`, by input key) already done are reused, one work directory per method under --out.
Writes studies/csp/results/<name>.{csv,md} (per method) and <name>_compositions.csv (per composition and method).

Across sessions (machines that do not keep --out): `--rows 0:50` runs a slice of the composition list and writes
its tables as <name>_rows_000-050.*; every composition's candidates and seeds depend on its index only, so the
slices give the rows of one full run. `--combine` then writes <name>.* from all committed slices.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import time
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure
from scipy.stats import binomtest
from tqdm.auto import tqdm

from studies.csp import methods
from studies.csp.common import (
    DATASET,
    MATCHER_SETTINGS,
    RESULTS,
    Clock,
    add_common_arguments,
    best_rms,
    build_and_relax,
    get_logger,
    machine_name,
    matcher,
    parse_rows,
    read_parts,
    run_conditions,
    single_thread,
    test_structures,
)
from studies.provenance import command_line
from wylib.metrics.bootstrap import bootstrap_ci
from wylib.sample import spacegroup_counts
from wylib.train import load_run

METHODS = ("ours", "random_pyxtal", "filtered")
INFO_COLUMNS = ("samples_needed", "first_at", "hit_cap", "stream_samples", "group_failures")


def load_compositions(path: Path, limit: int | None = None, only: str | None = None, rows: slice | None = None):
    df = pd.read_csv(path)
    if rows:
        df = df.iloc[rows]
    if only:
        df = df[df["formula"].isin(only.split(","))]
    return df.head(limit) if limit else df


def _cached(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def draw_candidates(method: str, comps: pd.DataFrame, work: Path, args, log) -> tuple[list[dict], dict]:
    """Sample dicts (in composition order) and per-composition info of one method; cached in work/samples.json,
    keyed by composition index, k, seed (and the cap for `filtered`)."""
    path = work / "samples.json"
    cache = _cached(path)
    key = f"k={args.k} seed={args.seed}"
    if method == "filtered":  # the stream serves the compositions it was started for (a part shares no stream)
        ids = ",".join(map(str, sorted(comps["index"])))
        key += f" cap={args.cap} batch={args.batch} compositions={hashlib.sha1(ids.encode()).hexdigest()[:12]}"
    if cache.get("key") != key:
        cache = {"key": key, "per": {}}
    per = cache["per"]
    if method == "filtered":
        model, vocab, _ = load_run(args.run, device="cpu")
        wanted = {(r.formula, int(r.atoms)): int(r.index) for r in comps.itertuples()}
        state = cache.setdefault("stream", {})
        bar = tqdm(total=args.cap, initial=state.get("sampled", 0), desc="filtered: sample", mininterval=5)

        def saved(st):
            bar.update(st["sampled"] - bar.n)
            _save(path, cache)
            log.info(f"filtered: {st['sampled']} samples, {sum(len(v) >= args.k for v in st['found'].values())} "
                     f"of {len(wanted)} compositions complete")  # fmt: skip

        methods.filtered_stream(model, vocab, args.prior, wanted, args.k, args.seed, args.cap, args.batch, state,
                                saved)  # fmt: skip
        bar.close()
        _save(path, cache)
        samples, info = [], {}
        for r in comps.itertuples():
            got = state["found"].get(str(r.index), [])
            complete = len(got) >= args.k
            info[r.index] = dict(found=len(got), first_at=got[0][0] + 1 if got else None,
                                 samples_needed=got[args.k - 1][0] + 1 if complete else None,
                                 hit_cap=not complete, stream_samples=state["sampled"])  # fmt: skip
            samples += [s for _, s in got[: args.k]]
        return samples, info
    model = vocab = None
    for r in tqdm(list(comps.itertuples()), desc=f"{method}: sample", mininterval=5):
        if str(r.index) in per:
            continue
        if method == "ours":
            if model is None:
                model, vocab, _ = load_run(args.run, device="cpu")
            s, info = methods.ours(model, vocab, args.prior, r.formula, int(r.z), int(r.index), args.k, args.seed)
        else:
            s, info = methods.random_pyxtal(r.formula, int(r.z), int(r.index), args.k, args.seed, args.prior.numpy())
        per[str(r.index)] = {"samples": s, "info": info}
        _save(path, cache)
    return ([s for r in comps.itertuples() for s in per[str(r.index)]["samples"]],
            {r.index: per[str(r.index)]["info"] for r in comps.itertuples()})  # fmt: skip


def score(comps: pd.DataFrame, table: pd.DataFrame, truths: dict, k: int) -> pd.DataFrame:
    """One row per composition: candidates, built, relaxed, matched at 1 and k, best rms at 1 and k."""
    sm = matcher()
    rows = {sid: r for sid, r in zip(table["sample_id"], table.itertuples(), strict=True)}
    out = []
    for c in comps.itertuples():
        got = [rows.get(methods.sample_id(int(c.index), j)) for j in range(k)]
        structures = [Structure.from_dict(r.structure) if r is not None and isinstance(r.structure, dict) else None
                      for r in got]  # fmt: skip
        rms = [best_rms(s, truths[c.formula], sm) for s in structures]
        hits = [x for x in rms if x is not None]
        out.append(dict(index=c.index, formula=c.formula, system_in_train_val=c.system_in_train_val,
                        candidates=sum(r is not None for r in got), built=sum(bool(r is not None and r.n_built)
                                                                              for r in got),
                        relaxed=sum(s is not None for s in structures), match_1=rms[0] is not None,
                        match_k=bool(hits), rms_1=rms[0], rms_k=min(hits) if hits else None,
                        first_match=next((j + 1 for j, x in enumerate(rms) if x is not None), None)))  # fmt: skip
    return pd.DataFrame(out)


def summarize(method: str, per: pd.DataFrame, seconds: float, cpu_seconds: float, k: int) -> dict:
    """One method's row from its per-composition rows (`score` plus the method's info columns)."""
    seen = per["system_in_train_val"].astype(bool)
    row = {
        "method": method, "compositions": len(per), "candidates": int(per["candidates"].sum()),
        "built": int(per["built"].sum()), "relaxed": int(per["relaxed"].sum()),
        "match@1": per["match_1"].mean(),
        **{f"match@{j}": (per["first_match"] <= j).mean() for j in (5, 10) if j < k},
        f"match@{k}": per["match_k"].mean(),
        "rmse@1": per.loc[per["match_1"], "rms_1"].mean(), f"rmse@{k}": per.loc[per["match_k"], "rms_k"].mean(),
        f"match@{k} seen system": per.loc[seen, "match_k"].mean(),
        f"match@{k} unseen system": per.loc[~seen, "match_k"].mean(), "wall_s": round(seconds, 1),
        "cpu_s": round(cpu_seconds, 1),
    }  # fmt: skip
    if method == "filtered":
        needed = per["samples_needed"].dropna()
        row["samples needed (median, complete)"] = needed.median() if len(needed) else None
        row["compositions at cap"] = int(per["hit_cap"].astype(bool).sum())
        row["stream samples"] = int(per["stream_samples"].max())
    if method == "random_pyxtal":
        row["group failures"] = int(per["group_failures"].fillna(0).sum())
    return row


def paired(per: pd.DataFrame, k: int, a: str = "ours", n_boot: int = 2000) -> pd.DataFrame:
    """Method `a` against each other method at match@k on the same compositions: the difference in percentage
    points with a paired bootstrap interval (compositions resampled), the discordant compositions (only a / only
    the other matches) and the exact McNemar p-value (two-sided binomial test on the discordant pairs)."""
    hit = per.pivot_table(index="index", columns="method", values="match_k", aggfunc="first")
    rows = []
    for b in [m for m in METHODS if m != a and m in hit and a in hit]:
        both = hit[[a, b]].dropna().astype(bool)
        d = both[a].to_numpy(int) - both[b].to_numpy(int)
        ci = bootstrap_ci(lambda x: 100.0 * x.mean(), d, n_boot=n_boot, seed=0)
        only_a, only_b = int((d > 0).sum()), int((d < 0).sum())
        p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
        rows.append({"comparison": f"{a} - {b}", "compositions": len(d), f"match@{k} difference, pp": ci.value,
                     "95 % CI (paired bootstrap)": f"[{ci.low:+.1f}, {ci.high:+.1f}]", f"only {a}": only_a,
                     "only other": only_b, "McNemar exact p": float(p)})  # fmt: skip
    return pd.DataFrame(rows)


def paired_section(per: pd.DataFrame, k: int) -> str:
    table = paired(per, k)
    if table.empty:
        return ""
    return (f"\n## Paired comparison at match@{k} (one seed; the interval is over compositions)\n\n"
            + table.to_markdown(index=False, floatfmt=".3g") + "\n")  # fmt: skip


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compositions", default=str(RESULTS / "compositions.csv"))
    p.add_argument("--limit", type=int, help="the first N compositions only (pilots)")
    p.add_argument("--only", help="comma-separated formulas of the compositions file")
    p.add_argument("--rows", help="START:STOP, a slice of the compositions file (one part of a run over sessions)")
    p.add_argument("--combine", action="store_true", help="write <name>.* from the parts <name>_rows_*")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--k", type=int, default=20)
    add_common_arguments(p, "output/csp", "csp")
    args = p.parse_args(argv)
    if args.combine:
        return combine(Path(args.results), args.name, args.k, len(load_compositions(Path(args.compositions))))
    rows = parse_rows(args.rows) if args.rows else None
    if rows:
        args.name = f"{args.name}_rows_{rows.start:03d}-{rows.stop:03d}"
    single_thread()
    start, out, res_dir = time.perf_counter(), Path(args.out), Path(args.results)
    log = get_logger(out / "benchmark.log", "csp.benchmark")
    log.info(f"start: {command_line('studies.csp.benchmark')}")
    comps = load_compositions(Path(args.compositions), args.limit, args.only, rows)
    args.prior = spacegroup_counts(DATASET)
    truths = test_structures(set(comps["formula"]))
    summary, per_all = [], []
    for method in args.methods.split(","):
        work = out / method
        work.mkdir(parents=True, exist_ok=True)
        clock = Clock(work / "clock.json")
        with clock.stage("sample"):
            samples, info = draw_candidates(method, comps, work, args, log)
        log.info(f"{method}: {len(samples)} candidates for {len(comps)} compositions; build and relax")
        table = build_and_relax(samples, work, clock, args)
        with clock.stage("match", redo=True):
            per = score(comps, table, truths, args.k)
        per = per.assign(method=method, **{c: [info[i].get(c) for i in per["index"]] for c in INFO_COLUMNS
                                          if any(c in v for v in info.values())})  # fmt: skip
        per_all.append(per)
        summary.append(summarize(method, per, clock.total(), clock.total(cpu=True), args.k))
        log.info(f"{method}: " + ", ".join(f"{k}={v}" for k, v in summary[-1].items()))
    frame, per_frame = pd.DataFrame(summary), pd.concat(per_all, ignore_index=True)
    write(frame, per_frame, res_dir, args, time.perf_counter() - start, len(comps))
    log.info(f"done in {time.perf_counter() - start:.0f} s -> {res_dir}/{args.name}.md")
    return frame


def combine(res_dir: Path, name: str, k: int, n_total: int) -> pd.DataFrame:
    """<name>.{csv,md} and <name>_compositions.csv from the parts <name>_rows_*: the per-composition rows
    concatenated (a composition in two parts is an error), each method summarized anew; wall and CPU seconds summed
    over the parts, whose machine and date lines are listed. Marked PARTIAL until the parts cover the list."""
    parts, per = read_parts(res_dir, f"{name}_rows_*_compositions.csv", ["method", "index"], "a composition")
    stems = [f.name.removesuffix("_compositions.csv") for f in parts]
    sums = pd.concat([pd.read_csv(res_dir / f"{s}.csv") for s in stems]).groupby("method")[["wall_s", "cpu_s"]].sum()
    frame = pd.DataFrame([summarize(m, per[per["method"] == m], sums.at[m, "wall_s"], sums.at[m, "cpu_s"], k)
                          for m in METHODS if m in set(per["method"])])  # fmt: skip
    n = per.groupby("method")["index"].nunique().min()
    frame.to_csv(res_dir / f"{name}.csv", index=False)
    per.to_csv(res_dir / f"{name}_compositions.csv", index=False)
    lines = [f"# CSP benchmark{'' if n == n_total else f' (PARTIAL: {n} of {n_total} compositions)'}: "
             f"{n} compositions of {DATASET}/test, k = {k}", "",
             f"Combined from {len(parts)} parts (`python -m studies.csp.benchmark --combine --name {name}`); "
             "`wall_s` and `cpu_s` summed over them. The parts:", ""]  # fmt: skip
    for s in stems:
        text = (res_dir / f"{s}.md").read_text().splitlines()
        lines += [f"- `{s}`:"] + ["  " + ln for ln in text if ln.startswith(("- command", "- machine"))]
    lines += [""] + [ln for ln in text if ln.startswith(("- relaxation", "- match@k"))]
    body = frame.to_markdown(index=False, floatfmt=".3f")
    (res_dir / f"{name}.md").write_text(
        "\n".join(lines) + "\n\n" + body + f"\n\nPer composition: `{name}_compositions.csv`.\n" + paired_section(per, k)
    )
    return frame


def write(frame: pd.DataFrame, per: pd.DataFrame, res_dir: Path, args, seconds: float, n: int) -> None:
    res_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(res_dir / f"{args.name}.csv", index=False)
    per.to_csv(res_dir / f"{args.name}_compositions.csv", index=False)
    head = [
        f"# CSP benchmark{' (PILOT)' if 'pilot' in args.name else ''}: {n} compositions of {DATASET}/test, "
        f"k = {args.k}",
        "",
        f"- command: `{command_line('studies.csp.benchmark')}`",
        f"- machine: {machine_name()}, {run_conditions(args.workers)}; date {datetime.datetime.now():%Y-%m-%d %H:%M}; "
        f"wall time of this invocation {seconds:.0f} s (`wall_s`, `cpu_s` per method: its sampling, building, "
        "relaxation and matching, summed over resumed runs)",
        f"- relaxation: CHGNet FIRE, fmax 0.05, {args.steps} steps per phase, 1 pyXtal trial; matcher "
        f"StructureMatcher({', '.join(f'{k}={v}' for k, v in MATCHER_SETTINGS.items())})",
        "- match@k: share of compositions with a relaxed candidate among the first k that matches a test structure "
        "of the formula; rmse@k: mean over those compositions of the smallest normalized rms distance "
        "(get_rms_dist()[0]) of a matching candidate. Failed builds and relaxations count as non-matches.",
        "",
    ]
    body = frame.to_markdown(index=False, floatfmt=".3f")
    tail = f"\n\nPer composition: `{args.name}_compositions.csv`.\n" + paired_section(per, args.k)
    (res_dir / f"{args.name}.md").write_text("\n".join(head) + "\n" + body + tail)


if __name__ == "__main__":
    main()
