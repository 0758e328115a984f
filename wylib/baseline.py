"""A no-learning baseline: Wyckoff representations from the training set's marginals (docs/metrics.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from wylib.symmetry import spacegroup_table
from wylib.tokens import WyckoffRepresentation, WyckoffSite


class MarginalBaseline:
    """Fit on training representations, then `sample`."""

    def __init__(self, train: Sequence[WyckoffRepresentation]):
        if not train:
            raise ValueError("the baseline needs at least one training structure")
        self.spacegroups = Counter(r.spacegroup for r in train)
        self.n_sites = defaultdict(Counter)
        self.letters = defaultdict(Counter)
        for r in train:
            self.n_sites[r.spacegroup][r.n_sites] += 1
            for s in r.sites:
                self.letters[r.spacegroup][s.letter] += 1
        self.elements = Counter(s.element for r in train for s in r.sites)

    @staticmethod
    def _draw(rng: np.random.Generator, counter: Counter, exclude: set = frozenset()):
        keys = [k for k in counter if k not in exclude]
        if not keys:
            return None
        p = np.array([counter[k] for k in keys], dtype=float)
        return keys[rng.choice(len(keys), p=p / p.sum())]

    def sample(self, n: int, seed: int = 0, spacegroups: Sequence[int] | None = None) -> list[WyckoffRepresentation]:
        """``n`` formally valid representations (space groups drawn, or given per sample)."""
        rng = np.random.default_rng(seed)
        out = []
        for i in range(n):
            group = int(spacegroups[i]) if spacegroups is not None else int(self._draw(rng, self.spacegroups))
            table = spacegroup_table(group)
            sizes = self.n_sites.get(group) or Counter(r for c in self.n_sites.values() for r in c.elements())
            letters = self.letters.get(group) or Counter({wp.letter: 1 for wp in table.positions})
            target, used, sites = int(self._draw(rng, sizes)), set(), []
            for _ in range(target):
                letter = self._draw(rng, letters, used)
                if letter is None:
                    break
                wp = table.by_letter(letter)
                if wp.dof == 0:
                    used.add(letter)
                element = self._draw(rng, self.elements)
                sites.append(WyckoffSite(element, letter, wp.multiplicity, wp.site_symmetry, wp.enumeration, wp.dof))
            out.append(WyckoffRepresentation(group, tuple(sites)))
        return out
