"""Two relaxation record files (`relax.jsonl`) of the same trials, record by record: how many are bit for bit
the same, and how far the others are apart (energy per atom, flags, FIRE steps).

    .venv/bin/python -m tools.compare_relax_records output/paper/generated/relax.jsonl \
        ../rerun/output/paper/generated/relax.jsonl
"""

from __future__ import annotations

import argparse
import json

from wylib.relax import read_jsonl


def compare_records(reference: list[dict], rerun: list[dict]) -> dict:
    """Counts over the ids present in both files."""
    ref, new = {r["id"]: r for r in reference}, {r["id"]: r for r in rerun}
    common = [k for k in ref if k in new]
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
        identical=len(common) - len(differ),
        differ=len(differ),
        max_abs_dE_eV_per_atom=max(de, default=0.0),
        flags_differ=sum(ref[k]["flag"] != new[k]["flag"] for k in common),
        steps_differ=sum(ref[k]["n_steps"] != new[k]["n_steps"] for k in common),
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("rerun")
    a = ap.parse_args(argv)
    out = compare_records(read_jsonl(a.reference), read_jsonl(a.rerun))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
