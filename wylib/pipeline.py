"""Run the numbered notebooks in order through papermill under a profile (called by ``run_all.sh``).

Profiles live in ``notebooks/profiles.yml``: shared parameters plus per-notebook ones. Each
notebook gets only the parameters it declares; ``out_dir`` and ``run_dir`` chain the outputs
(notebook 02 writes the model run to ``<out_dir>/model``, which 03-06 read). An executed copy
of each notebook goes to ``<out_dir>/notebooks/`` together with a ``.done.json`` marker holding
the hash of its parameters and of the notebook itself, its wall time and peak resident memory
(pipeline + kernel + worker processes, sampled every 0.5 s); a rerun skips every notebook whose
marker matches, so a run cut off in the middle continues with the notebook that was cut off.
The first failure stops the run and names the notebook and cell.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import yaml

from wylib.machine import machine_info
from wylib.memory import PeakRSS

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def load_profile(name: str) -> dict:
    profiles = yaml.safe_load((NOTEBOOKS / "profiles.yml").read_text())
    if name not in profiles:
        raise SystemExit(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def notebook_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def parameters_for(notebook: Path, profile: dict, out_dir: Path) -> dict:
    """Shared + per-notebook parameters of the profile, restricted to those the notebook declares."""
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    specific = profile.get(notebook.stem[:2], {}) or {}
    unknown = sorted(set(specific) - declared)
    if unknown:
        raise SystemExit(f"profile parameters {unknown} are not declared by {notebook.name}")
    params = dict(profile.get("shared", {}))
    params.update(specific)
    params.update(out_dir=str(out_dir), run_dir=str(out_dir / "model"))
    return {k: v for k, v in params.items() if k in declared}


def fingerprint(notebook: Path, params: dict, upstream: str) -> str:
    """Hash of the notebook, its parameters and the fingerprint of the notebook before it (so reruns cascade)."""
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(upstream.encode())
    return digest.hexdigest()


def publish(out_dir: Path) -> None:
    """Copy figures and result tables of a run to the repository's ``figures/`` and ``results/``."""
    import shutil

    for sub in ("figures", "results"):
        src = out_dir / sub
        if src.is_dir():
            for path in sorted(src.iterdir()):
                if path.is_file():
                    (REPO / sub).mkdir(exist_ok=True)
                    shutil.copy2(path, REPO / sub / path.name)


def run(profile_name: str, out_dir: Path, only: list[str] | None = None, force: bool = False) -> int:
    import papermill

    profile = load_profile(profile_name)
    known = [p.stem[:2] for p in notebook_paths()]
    unknown = sorted(set(only or []) - set(known))
    if unknown:
        raise SystemExit(f"unknown notebook number(s) {', '.join(unknown)} in --only; known: {', '.join(known)}")
    out_dir = out_dir if out_dir.is_absolute() else REPO / out_dir
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    upstream = profile_name
    for notebook in notebook_paths():
        params = parameters_for(notebook, profile, out_dir)
        marker = out_dir / "notebooks" / f"{notebook.stem}.done.json"
        key = fingerprint(notebook, params, upstream)
        upstream = key
        if only and notebook.stem[:2] not in only:
            continue
        if not force and marker.exists() and json.loads(marker.read_text()).get("fingerprint") == key:
            print(f"[run_all] {notebook.name}: complete for these parameters, skipped", flush=True)
            continue
        marker.unlink(missing_ok=True)
        print(f"[run_all] {notebook.name}: running with {params}", flush=True)
        start = time.time()
        try:
            with PeakRSS(children=True, interval=0.5) as mem:  # kernel + its workers
                papermill.execute_notebook(
                    str(notebook),
                    str(out_dir / "notebooks" / notebook.name),
                    parameters=params,
                    cwd=str(REPO),
                    kernel_name="python3",
                    progress_bar=False,
                )
        except papermill.PapermillExecutionError as err:
            print(
                f"[run_all] FAILED in {notebook.name}, cell {err.cell_index} (execution count {err.exec_count}): "
                f"{err.ename}: {err.evalue}\n[run_all] executed copy: {out_dir / 'notebooks' / notebook.name}",
                flush=True,
            )
            return 1
        seconds = time.time() - start
        marker.write_text(
            json.dumps(
                {
                    "fingerprint": key,
                    "parameters": params,
                    "seconds": round(seconds, 1),
                    "peak_rss_mib": round(mem.peak_mib),
                    "host": platform.node(),
                    "machine": machine_info(),
                    "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                },
                indent=1,
            )
        )
        print(
            f"[run_all] {notebook.name}: done in {seconds / 60:.1f} min, peak RSS {mem.peak_mib:.0f} MiB "
            "(pipeline + kernel + workers)",
            flush=True,
        )
    if profile.get("publish"):
        publish(out_dir)
        print(f"[run_all] figures and tables copied to {REPO / 'figures'} and {REPO / 'results'}")
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
