"""Uniqueness and novelty with pymatgen's `StructureMatcher` (default parameters), grouped by reduced composition.

Groups are matched in ``n_jobs`` worker processes; ``None`` (failed builds) is neither unique nor novel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure


def _formula(s: Structure) -> str:
    return s.composition.reduced_formula


def _group(structures: Sequence[Structure | None]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(structures):
        if s is not None:
            groups[_formula(s)].append(i)
    return groups


def _novel_in_group(task: tuple[list[Structure], list[Structure]]) -> list[bool]:
    cands, refs = task
    sm = StructureMatcher()
    return [not any(sm.fit(c, r) for r in refs) for c in cands]


def _unique_in_group(cands: list[Structure]) -> list[bool]:
    sm = StructureMatcher()
    kept: list[Structure] = []
    out = []
    for c in cands:
        dup = any(sm.fit(c, k) for k in kept)
        out.append(not dup)
        if not dup:
            kept.append(c)
    return out


def _run(fn, tasks: list, n_jobs: int) -> list:
    if n_jobs <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=n_jobs) as ex:
        return list(ex.map(fn, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))))


def uniqueness_mask(structures: Sequence[Structure | None], n_jobs: int = 1) -> np.ndarray:
    """True for the first structure of each StructureMatcher class, False for later duplicates."""
    mask = np.zeros(len(structures), bool)
    groups = list(_group(structures).values())
    results = _run(_unique_in_group, [[structures[i] for i in g] for g in groups], n_jobs)
    for idx, res in zip(groups, results, strict=True):
        mask[idx] = res
    return mask


def novelty_mask(
    structures: Sequence[Structure | None], reference: Sequence[Structure | None], n_jobs: int = 1
) -> np.ndarray:
    """True where a structure matches no reference structure of the same reduced composition."""
    mask = np.zeros(len(structures), bool)
    refs = _group(reference)
    tasks, where = [], []
    for f, idx in _group(structures).items():
        if f not in refs:
            mask[idx] = True
            continue
        tasks.append(([structures[i] for i in idx], [reference[j] for j in refs[f]]))
        where.append(idx)
    for idx, res in zip(where, _run(_novel_in_group, tasks, n_jobs), strict=True):
        mask[idx] = res
    return mask
