"""Validation NLL by cascade field from the training histories of run directories; writes <name>.{md,csv} into
``--results-dir`` (default studies/chemistry/results).

    .venv/bin/python -m studies.chemistry.val_by_field --run-dirs runs/default output/e13/comphd_s0/model \
        --name val_nll_by_field

Per run (its `history.csv`, one row per validation round): the best round (lowest total validation NLL, the
checkpoint that is kept), the per-field NLL there (element, site symmetry, enumeration), the round where the element
field alone was lowest, and the per-field NLL at fixed rounds, so that runs that stop at different rounds can be
compared at the same point of the learning-rate schedule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from studies.provenance import command_line, host_stamp

RESULTS = Path(__file__).resolve().parent / "results"


FIELDS = ("element", "site_symmetry", "enumeration")


def by_field(history: pd.DataFrame, rounds: list[int]) -> dict:
    """Best-round and fixed-round per-field validation NLL of one training history."""
    h = history.set_index("round")
    best = h["val_nll"].idxmin()
    row = {"rounds": len(h), "best_round": int(best), "best_val_nll": float(h.loc[best, "val_nll"])}
    row.update({f"best_{f}": float(h.loc[best, f"val_nll_{f}"]) for f in FIELDS})
    row["element_min_round"] = int(h["val_nll_element"].idxmin())
    for r in rounds:
        for f in FIELDS[1:]:
            row[f"{f}_at_{r}"] = float(h.loc[r, f"val_nll_{f}"]) if r in h.index else float("nan")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dirs", nargs="+", type=Path, required=True)
    ap.add_argument("--rounds", nargs="+", type=int, default=[20, 25, 30])
    ap.add_argument("--name", default="val_nll_by_field")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = []
    for run in args.run_dirs:
        path = run / "history.csv"
        if not path.exists():
            print(f"[val_by_field] skipped {run}: no history.csv", file=sys.stderr)
            continue
        rows.append({"run": str(run), **by_field(pd.read_csv(path), args.rounds)})
    t = pd.DataFrame(rows)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    t.to_csv(args.results_dir / f"{args.name}.csv", index=False)
    cmd = command_line("studies.chemistry.val_by_field")
    text = (
        f"# Validation NLL by cascade field\n\n{host_stamp()}. "
        f"Command (repository root):\n\n    {cmd}\n\nFrom each run's `history.csv`: `best_*` at the kept checkpoint "
        "(lowest total validation NLL), `element_min_round` where the element field alone was lowest, "
        "`<field>_at_<r>` the position fields' validation NLL at round r (same learning rate for every run there).\n\n"
        + t.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )
    (args.results_dir / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
