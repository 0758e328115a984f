"""Generation targets (space groups, a chemical system, an exact composition, size caps) and the decoder masks that
make every sample obey its target by an exact reachability check. Method: docs/usage.md (targeted generation)."""

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

# atom cap of a composition given without max_atoms or formula units: the 90th percentile of the conventional cells
# of mp_20_biternary_open/train (median 16, max 80); the decoder tends to fill the cell up to the cap (docs/usage.md)
DEFAULT_MAX_ATOMS = 32
INF = math.inf
Ints = tuple[int, ...]


def _set(text, cast=str) -> frozenset | None:
    """ "225,221" / "Li,Mn,O" / "Li-Mn-O" / an int / an iterable -> frozenset (None stays None)."""
    if text is None or isinstance(text, frozenset):
        return text
    parts = [text] if isinstance(text, int) else text.replace("-", ",").split(",") if isinstance(text, str) else text
    try:
        return frozenset(cast(str(p).strip()) for p in parts if str(p).strip())
    except ValueError:
        raise ValueError(f"expected whole numbers separated by commas, not {text!r}") from None


@dataclass(frozen=True)
class Target:
    """Allowed space groups, allowed elements (a chemical system), required elements, an exact composition up to
    z >= 1 formula units (z in formula_units if given), at most max_atoms atoms (sum of multiplicities: conventional
    cell) and max_sites Wyckoff sites. None: no constraint."""

    spacegroups: frozenset[int] | None = None
    elements: frozenset[str] | None = None
    required: frozenset[str] = frozenset()
    composition: Composition | None = None
    max_atoms: int | None = None
    max_sites: int | None = None
    formula_units: frozenset[int] | None = None

    @classmethod
    def parse(cls, spacegroups=None, elements=None, required=None, composition=None, max_atoms=None, max_sites=None,
              z=None) -> Target:  # fmt: skip
        """From command-line strings: "225" or "225,221"; "Li,Mn,O" (or "Li-Mn-O"); "Li2MnO3"; z "4" or "2,4"."""
        if isinstance(composition, str):
            try:
                composition = Composition(composition)
            except (ValueError, KeyError) as err:
                raise ValueError(f"cannot read the composition {composition!r}: {err}") from None
        sets = _set(spacegroups, int), _set(elements), _set(required) or frozenset()
        return cls(*sets, composition, max_atoms, max_sites, _set(z, int))

    def __post_init__(self) -> None:
        fields = (self.spacegroups, self.elements, self.required, self.composition, self.max_atoms, self.max_sites)
        if all(v is None or v == frozenset() for v in fields):
            raise ValueError("an empty target: give space groups, elements, a composition or a size cap")
        comp = {e.symbol for e in self.composition or ()}
        for sym in sorted((self.elements or set()) | self.required | comp):
            if not Element.is_valid_symbol(sym):
                raise ValueError(f"unknown element {sym!r}")
        if not all(1 <= g <= 230 for g in self.spacegroups or ()):
            raise ValueError(f"space groups must lie in 1..230, not {sorted(self.spacegroups)}")
        for name in ("max_atoms", "max_sites"):
            if (v := getattr(self, name)) is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be an integer >= 1, not {v!r}")
        if self.elements is not None and not (self.required | comp) <= self.elements:
            raise ValueError(f"{sorted((self.required | comp) - self.elements)} outside the elements {self.elements}")
        if self.composition is not None:
            if not self.required <= comp:
                raise ValueError(f"required elements {sorted(self.required - comp)} are not in the composition")
            if any(abs(c - round(c)) > 1e-8 for c in self.composition.reduced_composition.values()):
                raise ValueError(f"the composition {self.composition.formula} has non-integer amounts")
            if min(self.formula_units or [1]) < 1:
                raise ValueError(f"formula units must be integers >= 1, not {sorted(self.formula_units)}")
            if (n := self.formula_atoms) * (z := min(self.formula_units or [1])) > self.atom_cap:
                cap = f"max_atoms={self.max_atoms}" if self.max_atoms else f"the default cap of {DEFAULT_MAX_ATOMS}"
                zs = f" x {z} formula units" if z > 1 else ""
                raise ValueError(
                    f"{self.composition.reduced_formula} has {n} atoms per formula unit{zs}, more than {cap}"
                )

    @property
    def formula(self) -> dict[str, int]:
        """The reduced formula as {element: count}."""
        return {e.symbol: round(c) for e, c in self.composition.reduced_composition.items()}

    @property
    def formula_atoms(self) -> int:
        return sum(self.formula.values())

    @property
    def atom_cap(self) -> float:
        if self.max_atoms or self.composition is None:
            return self.max_atoms or INF
        return self.formula_atoms * max(self.formula_units) if self.formula_units else DEFAULT_MAX_ATOMS

    def as_dict(self) -> dict:
        out = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in vars(self).items()}
        return out | {"composition": self.composition.reduced_formula if self.composition is not None else None}

    def __str__(self) -> str:
        return ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.as_dict().items()
                         if v)  # fmt: skip

    def check(self, vocab, distinct_max: int | None = None) -> None:
        """ValueError if the model cannot make this target (elements outside its vocabulary, too many sites)."""
        wanted = (self.elements or set()) | self.required | set(self.formula if self.composition is not None else ())
        if missing := sorted(set(wanted) - set(vocab.elements)):
            raise ValueError(f"element(s) {', '.join(missing)} not in the model's vocabulary (trained without them)")
        if (self.max_sites or 0) > vocab.max_sites:
            raise ValueError(f"max_sites={self.max_sites}: the model holds at most {vocab.max_sites} sites")
        n_el = len(self.formula) if self.composition is not None else len(self.required)
        if n_el > min(vocab.max_sites, self.max_sites or INF, distinct_max or INF):
            raise ValueError(f"{n_el} distinct elements are more than the model (or max_sites) allows")

    def violations(self, spacegroup: int, rep) -> list[str]:
        """Why a decoded sample (a WyckoffRepresentation, None if invalid) breaks the target; [] if it obeys."""
        if rep is None:
            return ["invalid sample"]
        counts = {e: round(c) for e, c in rep.composition.as_dict().items()}
        out = [f"space group {spacegroup}"] if self.spacegroups and spacegroup not in self.spacegroups else []
        if not (self.required <= set(counts) <= (self.elements or set(counts))):
            out.append(f"elements {sorted(counts)}")
        if self.composition is not None:
            e, c = next(iter(self.formula.items()))
            z = counts.get(e, 0) // c
            if z < 1 or counts != {e: z * c for e, c in self.formula.items()} or z not in (self.formula_units or {z}):
                out.append(f"composition {counts}")
        if sum(counts.values()) > self.atom_cap or rep.n_sites > (self.max_sites or INF):
            out.append(f"{sum(counts.values())} atoms on {rep.n_sites} sites")
        return out


# ----------------------------------------------------------------------------- reachability
@cache
def group_signature(group: int) -> tuple[Ints, Ints, Ints]:
    """(distinct multiplicities of the positions with free parameters, distinct multiplicities of the DoF-0
    positions, how many DoF-0 positions have each): all that reachability needs of a group."""
    free, fixed = set(), {}
    for wp in wyckoff_tables()[group].positions:
        if wp.dof:
            free.add(wp.multiplicity)
        else:
            fixed[wp.multiplicity] = fixed.get(wp.multiplicity, 0) + 1
    return tuple(sorted(free)), tuple(sorted(fixed)), tuple(fixed[m] for m in sorted(fixed))


@cache
def _coins(free: Ints, n: int) -> tuple[float, ...]:
    """Fewest free-position multiplicities (each reusable) summing to 0..n (inf: impossible)."""
    best = [0.0] + [INF] * n
    for x in range(1, n + 1):
        best[x] = min((best[x - f] + 1 for f in free if f <= x), default=INF)
    return tuple(best)


@cache
def min_sites(free: Ints, mults: Ints, avail: Ints, counts: Ints) -> float:
    """Fewest Wyckoff sites holding counts[i] atoms of element i, exactly: each element's atoms are a sum of free
    multiplicities (reusable) and DoF-0 multiplicities, of which avail[j] positions of multiplicity mults[j] are
    shared by all elements, each used once. DP over the elements, state = DoF-0 positions left; inf if impossible."""
    coins = _coins(free, max(counts, default=0))
    states = {avail: 0.0}
    for c in counts:
        new: dict[Ints, float] = {}
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
    """Can placed[i] atoms of element i grow to z * ratio[i] for a z in zs on at most `sites` more sites, with the
    DoF-0 positions still available (exact)?"""
    free, mults, _ = group_signature(group)
    zmin = max(1, *(-(-p // r) for p, r in zip(placed, ratio, strict=True)))
    rests = (tuple(sorted(z * r - p for p, r in zip(placed, ratio, strict=True))) for z in zs if z >= zmin)
    return any(min_sites(free, mults, avail, rest) <= sites for rest in rests)


class TargetMasks:
    """Decoding state of the rows of one batch and the masks that keep every row's target reachable: the next
    element (or STOP) and the multiplicity and DoF-0-ness of its position. Reachability is exact (`min_sites`;
    without a composition: enough sites, elements and atoms for the elements still to come)."""

    def __init__(self, target: Target, vocab, grammar: dict[str, torch.Tensor], sg: torch.Tensor):
        self.t, self.vocab, self.sg, n = target, vocab, sg.tolist(), len(sg)
        self.mult, self.dof0 = grammar["multiplicity"].clamp(min=0), (grammar["dof"] == 0).long()
        self.ids = {e: i + 3 for i, e in enumerate(vocab.elements)}
        self.max_sites = min(target.max_sites or vocab.max_sites, vocab.max_sites)
        self.pool = target.elements or frozenset(vocab.elements)
        self.avail, self.k, self.atoms = [group_signature(g)[2] for g in self.sg], [0] * n, [0] * n
        self.arity: list[int] | None = None
        self.comp = target.composition is not None
        if self.comp:  # have[i]: atoms per composition element; else the elements present
            self.order, self.ratio = list(target.formula), tuple(target.formula.values())
            zmax = int(target.atom_cap // target.formula_atoms)
            self.zs = tuple(sorted(z for z in (target.formula_units or range(1, zmax + 1)) if z <= zmax))
        self.have: list = [(0,) * len(self.ratio) if self.comp else frozenset()] * n
        self.options: dict[int, list[tuple[frozenset[str], set[tuple[int, int]]]]] = {}

    def _reachable(self, g: int, avail: Ints, have, atoms: int, sites: int, arity: int | None) -> bool:
        if sites < 0 or atoms > self.t.atom_cap:
            return False
        if self.comp:
            return composition_reachable(g, avail, have, self.ratio, self.zs, sites)
        q = len(self.t.required - have)  # required elements to come; `need` new elements in all
        need = q if arity is None else arity - len(have)
        if need < q or need > min(sites, len(self.pool - have)):
            return False
        free, mults, _ = group_signature(g)  # the `need` smallest multiplicities on offer must fit in the atom cap
        offer = sorted([m for m, a in zip(mults, avail, strict=True) for _ in range(a)] + [min(free)] * need)
        return sum(offer[:need]) <= self.t.atom_cap - atoms

    def group_ok(self, g: int) -> bool:
        """Can the target be met at all in group g (some z or some arity)?"""
        start = (0,) * len(self.ratio) if self.comp else frozenset()
        return any(self._reachable(g, group_signature(g)[2], start, 0, self.max_sites, a) for a in self.arities())

    def arities(self) -> list[int | None]:
        if self.comp:
            return [None]
        return list(range(max(1, len(self.t.required)), min(len(self.pool), self.max_sites) + 1))

    def arity_mask(self, n: int) -> torch.Tensor:
        """(B, n) the allowed draws of the model's arity head (distinct elements)."""
        out = torch.zeros(len(self.sg), n, dtype=torch.bool)
        for i, g in enumerate(self.sg):
            for a in (len(self.ratio),) if self.comp else (a for a in self.arities() if a < n):
                out[i, a] = self.comp or self._reachable(g, self.avail[i], frozenset(), 0, self.max_sites, a)
        return out

    def set_arity(self, arity: torch.Tensor | None) -> None:
        self.arity = None if arity is None else arity.tolist()

    def _move(self, i: int, el: str, m: int, fixed: int) -> tuple[Ints, object]:
        """Row i's (DoF-0 positions left, have) after `el` on a position of multiplicity m (DoF-0 if fixed)."""
        avail = self.avail[i]
        if fixed:
            j = group_signature(self.sg[i])[1].index(m)
            avail = avail[:j] + (avail[j] - 1,) + avail[j + 1 :]
        if not self.comp:
            return avail, self.have[i] | {el}
        c, p = self.order.index(el), self.have[i]
        return avail, p[:c] + (p[c] + m,) + p[c + 1 :]

    def element_mask(self, rows: torch.Tensor) -> torch.Tensor:
        """(b, V_el) allowed element tokens and STOP of the active rows; remembers the allowed positions."""
        out = np.zeros((len(rows), self.vocab.n_elements), dtype=bool)
        for r, i in enumerate(rows.tolist()):
            free, mults, _ = group_signature(g := self.sg[i])
            moves = [(m, 0) for m in free] + [(m, 1) for m, a in zip(mults, self.avail[i], strict=True) if a]
            ar, have, left = None if self.arity is None else self.arity[i], self.have[i], self.max_sites - self.k[i] - 1
            if self.comp:
                kinds, z = [frozenset([e]) for e in self.order], have[0] // self.ratio[0]
                done = z in self.zs and have == tuple(z * x for x in self.ratio)
            else:  # elements of one kind (absent, present, required and absent) behave alike
                kinds = [s for s in (self.pool - have - self.t.required, have, self.t.required - have) if s]
                done = self.t.required <= have and ar in (None, len(have))
            self.options[i] = []
            for s in kinds:
                ok = {(m, f) for m, f in moves if self._reachable(g, *self._move(i, min(s), m, f), self.atoms[i] + m,
                                                                    left, ar)}  # fmt: skip
                self.options[i].append((s, ok))
                out[r, [self.ids[e] for e in s]] = bool(ok)
            out[r, STOP] = done and self.k[i] > 0
        return torch.from_numpy(out)

    def position_mask(self, rows: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """(b, V_ss, V_en) the positions whose multiplicity keeps each row reachable with its drawn element."""
        ok = np.zeros((len(rows), 2, int(self.mult.max()) + 1), dtype=bool)
        for r, (i, e) in enumerate(zip(rows.tolist(), element.tolist(), strict=True)):
            for m, fixed in next(mv for s, mv in self.options[i] if self.vocab.elements[e - 3] in s):
                ok[r, fixed, m] = True
        g = torch.tensor([self.sg[i] for i in rows.tolist()], dtype=torch.int64)
        return torch.from_numpy(ok)[torch.arange(len(rows))[:, None, None], self.dof0[g], self.mult[g]]

    def update(self, rows: torch.Tensor, element: torch.Tensor, mult: torch.Tensor, fixed: torch.Tensor) -> None:
        for i, e, m, f in zip(rows.tolist(), element.tolist(), mult.tolist(), fixed.tolist(), strict=True):
            self.avail[i], self.have[i] = self._move(i, self.vocab.elements[e - 3], m, f)
            self.k[i], self.atoms[i] = self.k[i] + 1, self.atoms[i] + m


def allowed_groups(target: Target, vocab, grammar: dict[str, torch.Tensor]) -> torch.Tensor:
    """(231,) bool: the groups (of the target's set) in which the target is reachable."""
    groups = sorted(target.spacegroups or range(1, 231))
    masks, out = TargetMasks(target, vocab, grammar, torch.tensor(groups)), torch.zeros(231, dtype=torch.bool)
    out[groups] = torch.tensor([masks.group_ok(g) for g in groups])
    return out
