"""Generation targets (space groups, a chemical system, an exact composition, size caps) and the decoder's masks
that make every sample obey its target. Method: docs/usage.md ("Targeted generation and the command line")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np
import torch
from pymatgen.core import Composition, Element

from wylib.model import STOP
from wylib.symmetry import wyckoff_tables
from wylib.tokens import WyckoffRepresentation

# atoms cap of a composition without max_atoms or formula_units: 90th percentile of the conventional cells of
# mp_20_biternary_open/train (median 16, max 80); the decoder tends to fill the cell up to the cap (docs/usage.md)
DEFAULT_MAX_ATOMS = 32
MAX_MULT = 192  # largest Wyckoff multiplicity (Fm-3m, general position)
INF = math.inf
Ints = tuple[int, ...]


def _ints(text: str | int | list | frozenset | None) -> frozenset[int] | None:
    if text is None or isinstance(text, frozenset):
        return text
    parts = [text] if isinstance(text, int) else text.replace(" ", "").split(",") if isinstance(text, str) else text
    try:
        return frozenset(int(p) for p in parts if p != "")
    except ValueError:
        raise ValueError(f"expected whole numbers separated by commas, not {text!r}") from None


def _symbols(text: str | list | frozenset | None) -> frozenset[str] | None:
    if text is None or isinstance(text, frozenset):
        return text
    parts = text.replace(" ", "").replace("-", ",").split(",") if isinstance(text, str) else list(text)
    return frozenset(p for p in parts if p != "")


@dataclass(frozen=True)
class Target:
    """What the samples must be: allowed space groups, allowed elements (a chemical system), required elements,
    an exact composition up to the number z >= 1 of formula units, at most max_atoms atoms (sum of multiplicities,
    conventional cell) and max_sites Wyckoff sites. None: no constraint."""

    spacegroups: frozenset[int] | None = None
    elements: frozenset[str] | None = None
    required: frozenset[str] = frozenset()
    composition: Composition | None = None
    max_atoms: int | None = None
    max_sites: int | None = None
    formula_units: frozenset[int] | None = None  # allowed z of a composition (None: every z within the atom cap)

    @classmethod
    def parse(
        cls, spacegroups=None, elements=None, required=None, composition=None, max_atoms=None, max_sites=None, z=None
    ) -> Target:
        """From strings as on the command line: "225" or "225,221"; "Li,Mn,O" (or "Li-Mn-O"); "Li2MnO3"."""
        comp = None
        if composition is not None and not isinstance(composition, Composition):
            try:
                comp = Composition(composition)
            except (ValueError, KeyError) as err:
                raise ValueError(f"cannot read the composition {composition!r}: {err}") from None
        elif composition is not None:
            comp = composition
        req = _symbols(required) or frozenset()
        return cls(_ints(spacegroups), _symbols(elements), req, comp, max_atoms, max_sites, _ints(z))

    def __post_init__(self) -> None:
        if all(v in (None, frozenset()) for v in (self.spacegroups, self.elements, self.required, self.composition)):
            if self.max_atoms is None and self.max_sites is None:
                raise ValueError("an empty target: give space groups, elements, a composition or a size cap")
        for name in ("spacegroups", "elements", "composition"):
            if getattr(self, name) is not None and len(getattr(self, name)) == 0:
                raise ValueError(f"an empty target: no {name} given")
        if self.spacegroups and not all(1 <= g <= 230 for g in self.spacegroups):
            raise ValueError(f"space groups must lie in 1..230, not {sorted(self.spacegroups)}")
        comp = set() if self.composition is None else {e.symbol for e in self.composition}
        for sym in sorted((self.elements or set()) | self.required | {e.symbol for e in self.composition or ()}):
            if not Element.is_valid_symbol(sym):
                raise ValueError(f"unknown element {sym!r}")
        for name in ("max_atoms", "max_sites"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be an integer >= 1, not {v!r}")
        if self.elements is not None and not self.required <= self.elements:
            raise ValueError(f"required elements {sorted(self.required - self.elements)} are not among the elements")
        if self.composition is not None:
            if self.elements is not None and not comp <= self.elements:
                raise ValueError(f"the composition has elements {sorted(comp - self.elements)} outside the elements")
            if not self.required <= comp:
                raise ValueError(f"required elements {sorted(self.required - comp)} are not in the composition")
            counts = self.composition.reduced_composition.values()
            if any(abs(c - round(c)) > 1e-8 or c <= 0 for c in counts):
                raise ValueError(f"the composition {self.composition.formula} has non-integer amounts")
            n = self.formula_atoms
            if self.formula_units is not None and (not self.formula_units or min(self.formula_units) < 1):
                raise ValueError(f"formula units must be integers >= 1, not {sorted(self.formula_units)}")
            if n * min(self.formula_units or [1]) > self.atom_cap:
                cap = f"max_atoms={self.max_atoms}" if self.max_atoms else f"the default cap of {DEFAULT_MAX_ATOMS}"
                raise ValueError(f"{self.composition.reduced_formula} has {n} atoms per formula unit, more than {cap}")

    @property
    def formula(self) -> dict[str, int]:
        """Reduced formula as {element: count} (composition targets)."""
        return {e.symbol: round(c) for e, c in self.composition.reduced_composition.items()}

    @property
    def formula_atoms(self) -> int:
        return sum(self.formula.values())

    @property
    def atom_cap(self) -> int | float:
        if self.max_atoms or self.composition is None:
            return self.max_atoms or INF
        return self.formula_atoms * max(self.formula_units) if self.formula_units else DEFAULT_MAX_ATOMS

    def as_dict(self) -> dict:
        return {
            "spacegroups": sorted(self.spacegroups) if self.spacegroups else None,
            "elements": sorted(self.elements) if self.elements else None,
            "required": sorted(self.required),
            "composition": self.composition.reduced_formula if self.composition is not None else None,
            "max_atoms": self.max_atoms,
            "max_sites": self.max_sites,
            "formula_units": sorted(self.formula_units) if self.formula_units else None,
        }

    def __str__(self) -> str:
        return ", ".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.as_dict().items() if v
        )

    def check(self, vocab, distinct_max: int | None = None) -> None:
        """ValueError if the model cannot produce this target (elements outside its vocabulary, too many sites)."""
        wanted = (self.elements or set()) | self.required | set(self.formula if self.composition is not None else ())
        if missing := sorted(set(wanted) - set(vocab.elements)):
            raise ValueError(f"element(s) {', '.join(missing)} not in the model's vocabulary (trained without them)")
        if self.max_sites is not None and self.max_sites > vocab.max_sites:
            raise ValueError(f"max_sites={self.max_sites}: the model holds at most {vocab.max_sites} sites")
        n_el = len(self.formula) if self.composition is not None else len(self.required)
        if n_el > min(vocab.max_sites, self.max_sites or INF, distinct_max or INF):
            raise ValueError(f"{n_el} distinct elements are more than the model (or max_sites) allows")

    def violations(self, spacegroup: int, rep: WyckoffRepresentation | None) -> list[str]:
        """Why a decoded sample breaks the target (empty list: it obeys)."""
        if rep is None:
            return ["invalid sample"]
        out, counts = [], {s.element: 0 for s in rep.sites}
        for s in rep.sites:
            counts[s.element] += s.multiplicity
        if self.spacegroups and spacegroup not in self.spacegroups:
            out.append(f"space group {spacegroup}")
        if self.elements is not None and not set(counts) <= self.elements:
            out.append(f"elements {sorted(set(counts) - self.elements)}")
        if not self.required <= set(counts):
            out.append(f"missing {sorted(self.required - set(counts))}")
        if self.composition is not None:
            f = self.formula
            z = counts.get(next(iter(f)), 0) // f[next(iter(f))]
            if z < 1 or counts != {e: z * c for e, c in f.items()} or z not in (self.formula_units or {z}):
                out.append(f"composition {counts}")
        if sum(counts.values()) > self.atom_cap:
            out.append(f"{sum(counts.values())} atoms")
        if self.max_sites is not None and rep.n_sites > self.max_sites:
            out.append(f"{rep.n_sites} sites")
        return out


# ----------------------------------------------------------------------------- reachability
@cache
def group_signature(group: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(distinct multiplicities of positions with free parameters, distinct multiplicities of DoF-0 positions,
    number of DoF-0 positions of each): all that reachability needs of a group."""
    free, fixed = set(), {}
    for wp in wyckoff_tables()[group].positions:
        if wp.dof:
            free.add(wp.multiplicity)
        else:
            fixed[wp.multiplicity] = fixed.get(wp.multiplicity, 0) + 1
    mults = tuple(sorted(fixed))
    return tuple(sorted(free)), mults, tuple(fixed[m] for m in mults)


@cache
def _coins(free: tuple[int, ...], n: int) -> tuple[float, ...]:
    """Fewest free-position multiplicities (each reusable) summing to 0..n (inf: impossible)."""
    best = [0.0] + [INF] * n
    for x in range(1, n + 1):
        best[x] = min((best[x - f] + 1 for f in free if f <= x), default=INF)
    return tuple(best)


@cache
def min_sites(free: tuple[int, ...], mults: tuple[int, ...], avail: tuple[int, ...], counts: tuple[int, ...]) -> float:
    """Fewest Wyckoff sites holding counts[i] atoms of element i (exact): each element's atoms are a sum of free
    multiplicities (reusable) and DoF-0 multiplicities, avail[j] DoF-0 positions of multiplicity mults[j] shared by
    all elements, each used once. DP over the elements, state = DoF-0 positions left; inf if impossible."""
    coins = _coins(free, max(counts, default=0))
    states = {avail: 0.0}
    for c in counts:
        new: dict[tuple[int, ...], float] = {}
        for left, cost in states.items():
            for use in product(*(range(a + 1) for a in left)):
                rest = c - sum(u * m for u, m in zip(use, mults, strict=True))
                if rest >= 0 and coins[rest] < INF:
                    key = tuple(a - u for a, u in zip(left, use, strict=True))
                    new[key] = min(new.get(key, INF), cost + sum(use) + coins[rest])
        if not (states := new):
            return INF
    return min(states.values())


@cache
def composition_reachable(group: int, avail: Ints, placed: Ints, ratio: Ints, zs: Ints, sites: float) -> bool:
    """Can placed[i] atoms of element i be completed to z * ratio[i] for some z in zs with at most `sites`
    more sites, given the DoF-0 positions still available (exact)?"""
    free, mults, _ = group_signature(group)
    zmin = max(1, *(-(-p // r) for p, r in zip(placed, ratio, strict=True)))
    for z in (z for z in zs if z >= zmin):
        if min_sites(free, mults, avail, tuple(sorted(z * r - p for p, r in zip(placed, ratio, strict=True)))) <= sites:
            return True
    return False


def cheapest_atoms(group: int, avail: tuple[int, ...], n: int) -> float:
    """Fewest atoms on n more sites: the n smallest multiplicities on offer (free ones reusable)."""
    free, mults, _ = group_signature(group)
    pool = sorted([m for m, a in zip(mults, avail, strict=True) for _ in range(a)] + [min(free, default=INF)] * n)
    return sum(pool[:n]) if n else 0


class TargetMasks:
    """Per-row decoding state of one batch and the masks that keep every row's target reachable: the next
    element, the multiplicity (and DoF-0-ness) of its position, and STOP. Reachability is exact (`min_sites`)."""

    def __init__(self, target: Target, vocab, grammar: dict[str, torch.Tensor], sg: torch.Tensor):
        self.t, self.vocab = target, vocab
        self.sg = sg.tolist()
        self.mult = grammar["multiplicity"].clamp(min=0)
        self.dof0 = grammar["dof"] == 0
        self.el_ix = {e: i + 3 for i, e in enumerate(vocab.elements)}
        self.max_sites = min(target.max_sites or vocab.max_sites, vocab.max_sites)
        self.pool = target.elements or frozenset(vocab.elements)
        self.avail = [group_signature(g)[2] for g in self.sg]
        self.k = [0] * len(self.sg)
        self.atoms = [0] * len(self.sg)
        self.arity: list[int] | None = None
        if target.composition is not None:
            self.comp_el = list(target.formula)
            self.ratio = tuple(target.formula.values())
            zmax = int(target.atom_cap // target.formula_atoms)
            self.zs = tuple(sorted(z for z in (target.formula_units or range(1, zmax + 1)) if z <= zmax))
            self.placed = [(0,) * len(self.ratio) for _ in self.sg]
        else:
            self.present: list[frozenset[str]] = [frozenset() for _ in self.sg]
        self.options: dict[int, list[tuple[frozenset[str], set[tuple[int, int]]]]] = {}
        self._id_cache: dict[frozenset[str], list[int]] = {}

    # -- reachability of a state
    def _reachable(self, g: int, avail, placed_or_present, atoms: int, sites_left: int, arity: int | None) -> bool:
        if sites_left < 0 or atoms > self.t.atom_cap:
            return False
        if self.t.composition is not None:
            return composition_reachable(g, avail, placed_or_present, self.ratio, self.zs, sites_left)
        q = len(self.t.required - placed_or_present)
        need = q if arity is None else arity - len(placed_or_present)
        if need < q or need > sites_left or need > len(self.pool - placed_or_present):
            return False
        return cheapest_atoms(g, avail, need) <= self.t.atom_cap - atoms

    def group_ok(self, g: int) -> bool:
        """Can the target be met at all in group g (some z, some arity)?"""
        avail = group_signature(g)[2]
        if self.t.composition is not None:
            return self._reachable(g, avail, (0,) * len(self.ratio), 0, self.max_sites, None)
        return any(self._reachable(g, avail, frozenset(), 0, self.max_sites, a) for a in self.arities())

    def arities(self) -> range:
        if self.t.composition is not None:
            return range(len(self.ratio), len(self.ratio) + 1)
        return range(max(1, len(self.t.required)), min(len(self.pool), self.max_sites) + 1)

    def arity_mask(self, n: int) -> torch.Tensor:
        """(B, n) allowed draws of the model's arity head."""
        out = torch.zeros(len(self.sg), n, dtype=torch.bool)
        comp = self.t.composition is not None
        for i, g in enumerate(self.sg):
            for a in (a for a in self.arities() if a < n):
                out[i, a] = comp or self._reachable(g, self.avail[i], frozenset(), 0, self.max_sites, a)
        return out

    def set_arity(self, arity: torch.Tensor | None) -> None:
        self.arity = None if arity is None else arity.tolist()

    # -- per-step masks
    def _after(self, i: int, el: str, m: int, fixed: int) -> bool:
        """Is row i still reachable after putting `el` on a position of multiplicity m (DoF-0 if fixed)?"""
        g, avail = self.sg[i], self.avail[i]
        if fixed:
            j = group_signature(g)[1].index(m)
            avail = avail[:j] + (avail[j] - 1,) + avail[j + 1 :]
        if self.t.composition is not None:
            c = self.comp_el.index(el)
            p = self.placed[i]
            state = p[:c] + (p[c] + m,) + p[c + 1 :]
        else:
            state = self.present[i] | {el}
        ar = None if self.arity is None else self.arity[i]
        return self._reachable(g, avail, state, self.atoms[i] + m, self.max_sites - self.k[i] - 1, ar)

    def element_mask(self, rows: torch.Tensor) -> torch.Tensor:
        """(b, V_el) allowed element tokens (and STOP) of the active rows; remembers the positions per element."""
        out = np.zeros((len(rows), self.vocab.n_elements), dtype=bool)
        for r, i in enumerate(rows.tolist()):
            g = self.sg[i]
            free, mults, _ = group_signature(g)
            moves = [(m, 0) for m in free] + [(m, 1) for m, a in zip(mults, self.avail[i], strict=True) if a > 0]
            if self.t.composition is not None:
                kinds = [frozenset([e]) for e in self.comp_el]
                p = self.placed[i]
                z = p[0] // self.ratio[0]
                done = z in self.zs and p == tuple(z * x for x in self.ratio)
            else:  # elements of one kind (present / required / other) behave alike: one representative each
                pres, req = self.present[i], self.t.required
                kinds = [s for s in (self.pool - pres - req, pres, req - pres) if s]
                done = not (req - pres) and (self.arity is None or self.arity[i] == len(pres))
            self.options[i] = []
            for s in kinds:
                ok = {mv for mv in moves if self._after(i, min(s), *mv)}
                self.options[i].append((s, ok))
                out[r, self._ids(s)] = bool(ok)
            out[r, STOP] = done and self.k[i] > 0
        return torch.from_numpy(out)

    def _ids(self, symbols: frozenset[str]) -> list[int]:
        if symbols not in self._id_cache:
            self._id_cache[symbols] = [self.el_ix[e] for e in symbols]
        return self._id_cache[symbols]

    def position_mask(self, rows: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """(b, V_ss, V_en) positions whose multiplicity keeps each row reachable with its drawn element."""
        ok = np.zeros((len(rows), 2, MAX_MULT + 1), dtype=bool)
        for r, (i, e) in enumerate(zip(rows.tolist(), element.tolist(), strict=True)):
            el = self.vocab.elements[e - 3]
            for m, fixed in next(moves for s, moves in self.options[i] if el in s):
                ok[r, fixed, m] = True
        g = torch.tensor([self.sg[i] for i in rows.tolist()], dtype=torch.int64)
        b = torch.arange(len(rows))[:, None, None]
        return torch.from_numpy(ok)[b, self.dof0[g].long(), self.mult[g]]

    def update(self, rows: torch.Tensor, element: torch.Tensor, mult: torch.Tensor, fixed: torch.Tensor) -> None:
        for i, e, m, f in zip(rows.tolist(), element.tolist(), mult.tolist(), fixed.tolist(), strict=True):
            el = self.vocab.elements[e - 3]
            if f:
                j = group_signature(self.sg[i])[1].index(m)
                a = self.avail[i]
                self.avail[i] = a[:j] + (a[j] - 1,) + a[j + 1 :]
            if self.t.composition is not None:
                c, p = self.comp_el.index(el), self.placed[i]
                self.placed[i] = p[:c] + (p[c] + m,) + p[c + 1 :]
            else:
                self.present[i] = self.present[i] | {el}
            self.k[i] += 1
            self.atoms[i] += m


def allowed_groups(target: Target, vocab, grammar: dict[str, torch.Tensor]) -> torch.Tensor:
    """(231,) bool: the groups (of the target's set) in which the target is reachable."""
    groups = sorted(target.spacegroups or range(1, 231))
    masks = TargetMasks(target, vocab, grammar, torch.tensor(groups))
    out = torch.zeros(231, dtype=torch.bool)
    for g in groups:
        out[g] = masks.group_ok(g)
    return out
