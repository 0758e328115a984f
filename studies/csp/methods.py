"""The three candidate generators of the CSP benchmark, each returning sample dicts for `generate_structures`.

- `ours`: the model with `Target(composition=formula, z=z)` (it chooses the space group and the Wyckoff positions).
- `random_pyxtal`: pyXtal's random crystal with the same composition and z in a space group drawn from the
  train+val prior restricted to the groups compatible with the atom counts (pyXtal's `check_compatible`); on a
  failed build another group is drawn (the failed one excluded for this candidate); failures are counted.
- `filtered`: the unconstrained model (grammar-constrained decoding, no target), sampled in batches from one
  seeded stream shared by all compositions; a valid sample whose reduced formula and atom count equal a
  composition's is that composition's next candidate, until every composition has k or the cap of samples is
  reached. `samples_needed` is the stream position of a composition's k-th candidate (that of one composition
  sampled alone until k, in distribution).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from pymatgen.core import Composition
from pyxtal import pyxtal
from pyxtal.symmetry import Group
from pyxtal.tolerance import Tol_matrix

from wylib.build import TOL_FACTOR, trial_seed
from wylib.generated import as_sample
from wylib.sample import sample
from wylib.targets import Target


def sample_id(index: int, j: int) -> str:
    return f"c{index:03d}_{j:02d}"


def ours(model, vocab, prior, formula: str, z: int, index: int, k: int, seed: int) -> tuple[list[dict], dict]:
    target = Target.parse(composition=formula, z=str(z))
    try:
        res = sample(model, vocab, k, target=target, spacegroup_distribution=prior, seed=trial_seed(seed, index),
                     device="cpu", progress=False)  # fmt: skip
    except ValueError as err:  # no group can hold it: no candidates, counted
        return [], {"error": str(err)[:200]}
    reps = [r for r in res.representations if r is not None]
    return [as_sample(r, 0) | {"sample_id": sample_id(index, j)} for j, r in enumerate(reps)], {}


def compatible_groups(counts: list[int], prior: np.ndarray) -> np.ndarray:
    """The prior (231,) with zero weight where pyXtal cannot place the atom counts."""
    w = np.asarray(prior, dtype=float).copy()
    for g in np.flatnonzero(w):
        if not Group(int(g)).check_compatible(counts)[0]:
            w[g] = 0.0
    return w


def random_pyxtal(formula: str, z: int, index: int, k: int, seed: int, prior, max_tries: int = 20):
    """k random pyXtal crystals (their groups and Wyckoff sites as pyXtal args); info: tries and failures."""
    comp = Composition(formula).reduced_composition
    species = [e.symbol for e in comp]
    counts = [round(comp[e]) * z for e in comp]
    w = compatible_groups(counts, prior)
    rng = np.random.default_rng([seed, index])
    out, failures, groups = [], 0, []
    for j in range(k):
        wj = w.copy()
        for _ in range(max_tries):
            if wj.sum() <= 0:
                break
            g = int(rng.choice(231, p=wj / wj.sum()))
            xtal = pyxtal()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    xtal.from_random(3, g, species, counts, tm=Tol_matrix(prototype="atomic", factor=TOL_FACTOR),
                                     random_state=int(rng.integers(2**31)))  # fmt: skip
                ok = xtal.valid
            except Exception:  # noqa: BLE001 - pyXtal raises many types; a failure is counted
                ok = False
            if ok:
                sites = [[s.wp.get_label() for s in xtal.atom_sites if s.specie == sp] for sp in species]
                args = dict(group=g, species=species, numIons=counts, sites=sites)
                out.append(dict(sample_id=sample_id(index, j), tokens=None, pyxtal_args=args))
                groups.append(g)
                break
            failures += 1
            wj[g] = 0.0
    info = dict(group_failures=failures, compatible_groups=int((w > 0).sum()), groups=groups)
    return out, info


def filtered_stream(model, vocab, prior, wanted: dict[tuple[str, int], int], k: int, seed: int, cap: int,
                    batch: int, state: dict, on_batch=None) -> dict:  # fmt: skip
    """Extend `state` ({"sampled": n, "found": {index: [[position, sample dict], ...]}}) batch by batch until every
    wanted (formula, atoms) -> index has k candidates or `cap` samples are drawn; `on_batch(state)` after each."""
    found = state.setdefault("found", {})
    state.setdefault("sampled", 0)
    for idx in wanted.values():
        found.setdefault(str(idx), [])
    while state["sampled"] < cap and any(len(v) < k for v in found.values()):
        n = min(batch, cap - state["sampled"])
        b = state["sampled"] // batch
        with torch.no_grad():
            res = sample(model, vocab, n, spacegroup_distribution=prior, constrained=True,
                         seed=trial_seed(seed, 10**6 + b), device="cpu", progress=False)  # fmt: skip
        for i, rep in enumerate(res.representations):
            if rep is None:
                continue
            comp = Composition({e: round(c) for e, c in rep.composition.as_dict().items()})
            idx = wanted.get((comp.reduced_formula, int(comp.num_atoms)))
            if idx is not None and len(found[str(idx)]) < k:
                j = len(found[str(idx)])
                found[str(idx)].append([state["sampled"] + i, as_sample(rep, 0) | {"sample_id": sample_id(idx, j)}])
        state["sampled"] += n
        if on_batch is not None:
            on_batch(state)
    return state
