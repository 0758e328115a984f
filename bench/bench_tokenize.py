"""Tokenization throughput: wylib vs pyXtal's from_seed(tol=0.1) path vs bare spglib (the floor).

All three run in this one process on the same pymatgen Structures (single core each),
interleaved chunk by chunk so that machine noise hits them alike. Reports structures/s,
ratios and peak RSS.

    python -m bench.bench_tokenize --n 300 [--dataset mp_20_biternary_open --split test]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import time
import warnings

import spglib

from wylib.data import load_split, parse_structures
from wylib.tokens import WyckoffRepresentation


def ours(s):
    return WyckoffRepresentation.from_structure(s, symprec=0.1, angle_tolerance=5.0)


def pyxtal_path(s):
    """The official path: pyXtal from_seed at tol 0.1, then letters and site symmetries from its sites."""
    from pyxtal import pyxtal

    crystal = pyxtal()
    crystal.from_seed(s, tol=0.1)

    def site_symmetry(wp):
        return wp.get_site_symmetry_object().name if hasattr(wp, "get_site_symmetry_object") else wp.site_symm

    return crystal.group.number, [(site.specie, site.wp.letter, site_symmetry(site.wp)) for site in crystal.atom_sites]


def bare_spglib(s):
    return spglib.get_symmetry_dataset(
        (s.lattice.matrix, s.frac_coords, s.atomic_numbers), symprec=0.1, angle_tolerance=5.0
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="mp_20_biternary_open")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=25)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    frame = load_split(args.dataset, args.split).iloc[: args.n]
    structures, failures = parse_structures(list(frame.cif), n_jobs=1)
    structures = [s for s in structures if s is not None]
    ours(structures[0]), pyxtal_path(structures[0])  # warm caches (symmetry tables, pyXtal imports)
    methods = {"wylib": ours, "pyxtal_from_seed": pyxtal_path, "spglib_dataset": bare_spglib}
    seconds = dict.fromkeys(methods, 0.0)
    errors = dict.fromkeys(methods, 0)
    for start in range(0, len(structures), args.chunk):
        chunk = structures[start : start + args.chunk]
        for name, fn in methods.items():
            t0 = time.perf_counter()
            for s in chunk:
                try:
                    fn(s)
                except Exception:
                    errors[name] += 1
            seconds[name] += time.perf_counter() - t0
    rate = {k: len(structures) / v for k, v in seconds.items()}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# tokenization benchmark, {datetime.date.today()}, host {platform.node()}, "
        f"{len(structures)} structures of {args.dataset}/{args.split}, 1 process each"
    )
    print("| method | structures/s | errors | relative to wylib |")
    print("| --- | --- | --- | --- |")
    for k in methods:
        print(f"| {k} | {rate[k]:.1f} | {errors[k]} | {rate[k] / rate['wylib']:.2f} |")
    print(
        f"\nwylib / pyXtal path = {rate['wylib'] / rate['pyxtal_from_seed']:.1f}x; "
        f"wylib / bare spglib = {rate['wylib'] / rate['spglib_dataset']:.2f}; peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
