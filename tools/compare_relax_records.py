"""Two relaxation record files (`relax.jsonl`) of the same trials, record by record: how many are bit for bit
the same, and how far the others are apart (energy per atom, flags, FIRE steps).

    .venv/bin/python -m tools.compare_relax_records output/paper/generated/relax.jsonl \
        ../rerun/output/paper/generated/relax.jsonl

Only reruns are compared: a missing, empty or malformed file is an error naming it, records of one id with
different `input_key`s (another initial structure or protocol, e.g. fmax 0.05 against 0.1) are refused, and ids
present in one file only are reported and fail the comparison (exit code 1). Records written before the trial
screen was removed (commit 0e4900e and earlier) carry a `screen_energy` that is always null without the screen;
it is ignored, so they compare bit for bit with today's records.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RETIRED_FIELDS = ("screen_energy",)  # null in every record of the exhaustive protocol; no longer written


def read_records(path: str | Path) -> list[dict]:
    """Every record of a JSONL file, strictly: a missing or empty file or a line that is not a JSON object with an
    ``id`` is an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    records = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"{path}, line {i}: not JSON ({err.msg})") from None
        if not isinstance(rec, dict) or "id" not in rec:
            raise SystemExit(f"{path}, line {i}: not a relaxation record (a JSON object with an 'id')")
        records.append(rec)
    if not records:
        raise SystemExit(f"{path}: no relaxation records")
    return records


def compare_records(reference: list[dict], rerun: list[dict]) -> dict:
    """Counts over the ids of both files; ids of one file only are counted as missing. Raises ValueError when a
    common id has another input key (not a rerun of the same relaxation)."""
    ref, new = ({r["id"]: _current(r) for r in recs} for recs in (reference, rerun))
    common = [k for k in ref if k in new]
    other = [k for k in common if ref[k].get("input_key") != new[k].get("input_key")]
    if other:
        raise ValueError(
            f"{len(other)} of {len(common)} common records have another input_key (initial structure or protocol), "
            f"e.g. {other[0]!r}: {ref[other[0]].get('input_key')} vs {new[other[0]].get('input_key')}; not a rerun"
        )
    differ = [k for k in common if ref[k] != new[k]]
    de = [
        abs(ref[k]["energy_per_atom"] - new[k]["energy_per_atom"])
        for k in differ
        if ref[k].get("energy_per_atom") is not None and new[k].get("energy_per_atom") is not None
    ]
    return dict(
        reference=len(ref),
        rerun=len(new),
        common=len(common),
        only_in_reference=len(ref) - len(common),
        only_in_rerun=len(new) - len(common),
        identical=len(common) - len(differ),
        differ=len(differ),
        max_abs_dE_eV_per_atom=max(de, default=0.0),
        flags_differ=sum(ref[k]["flag"] != new[k]["flag"] for k in common),
        steps_differ=sum(ref[k]["n_steps"] != new[k]["n_steps"] for k in common),
    )


def _current(rec: dict) -> dict:
    """`rec` without the retired fields when they are null (a non-null one is a difference and stays)."""
    return {k: v for k, v in rec.items() if not (k in RETIRED_FIELDS and v is None)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("rerun")
    a = ap.parse_args(argv)
    try:
        out = compare_records(read_records(a.reference), read_records(a.rerun))
    except ValueError as err:
        raise SystemExit(f"{a.reference} vs {a.rerun}: {err}") from None
    print(json.dumps(out))
    if out["only_in_reference"] or out["only_in_rerun"]:
        print(
            f"{out['only_in_reference']} records only in {a.reference}, {out['only_in_rerun']} only in {a.rerun}: "
            "not the same set of relaxations",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
