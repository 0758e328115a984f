"""Run the numbered notebooks in order through papermill under a profile of ``notebooks/profiles.yml`` (run_all.sh).

Executed copies and their ``.done.json`` markers go to ``<out_dir>/notebooks/``; a rerun skips notebooks whose marker
matches; ``publish: true`` profiles are copied to ``results/``, ``figures/``, ``notebooks/<profile>/`` (docs/usage.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import papermill
import yaml

from wylib.machine import machine_info
from wylib.memory import PeakRSS
from wylib.notebook import parameter_errors

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
MAX_NOTEBOOK_BYTES = 2 * 1024 * 1024  # a published notebook stays readable on GitHub


def load_profile(name: str) -> dict:
    profiles = yaml.safe_load((NOTEBOOKS / "profiles.yml").read_text())
    if name not in profiles:
        raise SystemExit(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def notebook_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def parameters_source(notebook: Path) -> str:
    """Source of the notebook's cell tagged ``parameters``."""
    cells = json.loads(notebook.read_text())["cells"]
    return next(("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", [])), "")


def check_profile(name: str, profile: dict, notebooks: list[Path]) -> None:
    """Every key of a profile known, declared by a notebook, of its default's type; else SystemExit (all)."""
    numbers = {nb.stem[:2] for nb in notebooks}
    errors = [f"unknown key {k!r}" for k in profile if k not in {"publish", "shared", "expect"} | numbers]
    shared = profile.get("shared") or {}
    names = {nb: set(papermill.inspect_notebook(str(nb))) for nb in notebooks}
    anywhere = set().union(*names.values())
    errors += [f"shared parameter {k!r} is declared by no notebook" for k in sorted(set(shared) - anywhere)]
    for nb in notebooks:
        values = {k: v for k, v in shared.items() if k in names[nb]} | (profile.get(nb.stem[:2]) or {})
        errors += [f"{nb.name}: {e}" for e in parameter_errors(values, parameters_source(nb))]
    if errors:
        raise SystemExit(f"profile {name!r} in notebooks/profiles.yml: " + "; ".join(errors))


def profile_parameters(notebook: Path, profile: dict, out_dir: Path | None = None) -> dict:
    """The profile's shared + per-notebook parameters (+ out_dir, run_dir) that the notebook declares."""
    declared = set(papermill.inspect_notebook(str(notebook)))
    specific = profile.get(notebook.stem[:2], {}) or {}
    if unknown := sorted(set(specific) - declared):
        raise SystemExit(f"profile parameters {unknown} are not declared by {notebook.name}")
    params = {**profile.get("shared", {}), **specific}
    if out_dir is not None:
        params.update(out_dir=str(out_dir), run_dir=str(out_dir / "model"))
    return {k: v for k, v in params.items() if k in declared}


def fingerprint(notebook: Path, params: dict, upstream: str) -> str:
    """Hash of the notebook, its parameters and the fingerprint of the one before it (so reruns cascade)."""
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(upstream.encode())
    return digest.hexdigest()


def is_complete(marker: Path, key: str) -> bool:
    return marker.exists() and json.loads(marker.read_text()).get("fingerprint") == key


def execute(notebook: Path, params: dict, out_path: Path, marker: Path, key: str | None = None) -> dict:
    """Run `notebook` with `params` into `out_path`, then write and return `marker` (none if a cell fails)."""
    key = key or fingerprint(notebook, params, "")
    marker.unlink(missing_ok=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with PeakRSS(children=True, interval=0.5) as mem:
        papermill.execute_notebook(
            str(notebook),
            str(out_path),
            parameters=params,
            cwd=str(REPO),
            kernel_name="python3",
            progress_bar=False,
        )
    record = {
        "fingerprint": key,
        "parameters": params,
        "seconds": round(time.time() - start, 1),
        "peak_rss_mib": round(mem.peak_mib),
        "host": platform.node(),
        "machine": machine_info(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    marker.write_text(json.dumps(record, indent=1))
    return record


def publish(out_dir: Path, profile_name: str, dest: Path = REPO) -> None:
    """Copy a run's results, figures, notebooks (+ run.json) to `dest/*/<profile>/`, unless one is over 2 MB."""
    runs = out_dir / "notebooks"
    executed = [p for p in sorted(runs.glob("[0-9][0-9]_*.ipynb")) if (runs / f"{p.stem}.done.json").exists()]
    too_big = [
        f"{p.name} ({p.stat().st_size / 2**20:.1f} MB)" for p in executed if p.stat().st_size > MAX_NOTEBOOK_BYTES
    ]
    if too_big:
        raise SystemExit(
            f"[run_all] not published: executed notebooks over {MAX_NOTEBOOK_BYTES / 2**20:.0f} MB: "
            f"{', '.join(too_big)} (in {runs}); shrink their outputs (fewer or smaller figures, "
            "shorter tables) and publish again"
        )
    sources = {"results": out_dir / "results", "figures": out_dir / "figures"}
    for sub, src in sources.items():
        files = sorted(p for p in src.iterdir() if p.is_file()) if src.is_dir() else []
        copy_files(files, dest / sub / profile_name)
    copy_files(executed, dest / "notebooks" / profile_name)
    stages = {
        p.stem: {k: marker.get(k) for k in ("seconds", "peak_rss_mib", "finished", "host", "machine", "parameters")}
        for p in executed
        for marker in [json.loads((runs / f"{p.stem}.done.json").read_text())]
    }
    summary = {"profile": profile_name, "out_dir": str(out_dir), "stages": stages}
    (dest / "notebooks" / profile_name / "run.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"[run_all] published to {dest / 'results' / profile_name}, {dest / 'figures' / profile_name} and "
        f"{dest / 'notebooks' / profile_name} ({len(executed)} notebooks)",
        flush=True,
    )


def copy_files(files: list[Path], target: Path) -> None:
    """Copy `files` into `target`, naming the files already there that are not among them."""
    target.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in files}
    stale = sorted(p.name for p in target.iterdir() if p.is_file() and p.name not in names | {"run.json"})
    for path in files:
        shutil.copy2(path, target / path.name)
    if stale:
        print(f"[run_all] {target}: not written by this run, left as they are: {', '.join(stale)}", flush=True)


def run(profile_name: str, out_dir: Path, only: list[str] | None = None, force: bool = False) -> int:
    profile = load_profile(profile_name)
    known = [p.stem[:2] for p in notebook_paths()]
    unknown = sorted(set(only or []) - set(known))
    if unknown:
        raise SystemExit(f"unknown notebook number(s) {', '.join(unknown)} in --only; known: {', '.join(known)}")
    check_profile(profile_name, profile, notebook_paths())
    if profile.get("expect"):
        m = machine_info()
        print(
            f"[run_all] profile {profile_name} {profile['expect']}; this machine: {m['cpu']}, {m['cores']} cores, "
            f"torch kernels {m['torch_cpu_capability']} (bash tools/gpu_check.sh projects the relax time here)",
            flush=True,
        )
    out_dir = out_dir if out_dir.is_absolute() else REPO / out_dir
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    upstream = profile_name
    missing: list[str] = []  # earlier notebooks not complete in out_dir and not selected by --only
    for notebook in notebook_paths():
        params = profile_parameters(notebook, profile, out_dir)
        marker = out_dir / "notebooks" / f"{notebook.stem}.done.json"
        key = fingerprint(notebook, params, upstream)
        upstream = key
        if only and notebook.stem[:2] not in only:
            if not is_complete(marker, key):
                missing.append(notebook.stem)
            continue
        if missing:
            raise SystemExit(
                f"[run_all] {notebook.name} reads the outputs of {', '.join(missing)}, which are not complete in "
                f"{out_dir} for these parameters: add them to --only, or run without --only (complete notebooks "
                "are skipped)"
            )
        if not force and is_complete(marker, key):
            print(f"[run_all] {notebook.name}: complete for these parameters, skipped", flush=True)
            continue
        print(f"[run_all] {notebook.name}: running with {params}", flush=True)
        try:
            record = execute(notebook, params, out_dir / "notebooks" / notebook.name, marker, key)
        except papermill.PapermillExecutionError as err:
            print(
                f"[run_all] FAILED in {notebook.name}, cell {err.cell_index} (execution count {err.exec_count}): "
                f"{err.ename}: {err.evalue}\n[run_all] executed copy: {out_dir / 'notebooks' / notebook.name}",
                flush=True,
            )
            return 1
        print(
            f"[run_all] {notebook.name}: done in {record['seconds'] / 60:.1f} min, peak RSS "
            f"{record['peak_rss_mib']:.0f} MiB (pipeline + kernel + workers)",
            flush=True,
        )
    if profile.get("publish"):
        publish(out_dir, profile_name)
    table1 = out_dir / "results" / "table1.md"
    if table1.exists():
        print("\n[run_all] Table 1\n" + table1.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="run_all.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--profile", default="paper", help="smoke | paper | full | mp_20 (notebooks/profiles.yml)")
    ap.add_argument("--out", default=None, help="output directory (default output/<profile>)")
    ap.add_argument("--only", nargs="+", help="run only these notebook numbers, e.g. --only 01 02")
    ap.add_argument("--force", action="store_true", help="rerun notebooks even when complete")
    args = ap.parse_args(argv)
    out_dir = Path(args.out or f"output/{args.profile}")
    return run(args.profile, out_dir, args.only, args.force)


if __name__ == "__main__":
    sys.exit(main())
