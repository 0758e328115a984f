"""The Wyckoff representation of a crystal (paper section 2 and 3.1). Method: docs/model.md."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import spglib
from pymatgen.core import Composition, Element, IStructure

from wylib.symmetry import letter_rank, spacegroup_table


class TokenizationError(ValueError):
    """A structure cannot be turned into a Wyckoff representation."""


class InvalidSequenceError(ValueError):
    """A token sequence is not a formally valid Wyckoff representation."""


@dataclass(frozen=True, order=True)
class WyckoffSite:
    """A chemical element on a Wyckoff position."""

    element: str
    letter: str
    multiplicity: int
    site_symmetry: str
    enumeration: int
    dof: int

    @property
    def token(self) -> tuple[str, str, int]:
        return (self.element, self.site_symmetry, self.enumeration)

    @property
    def label(self) -> str:
        return f"{self.multiplicity}{self.letter}"


def _site(spacegroup: int, element: str, letter: str) -> WyckoffSite:
    wp = spacegroup_table(spacegroup).by_letter(letter)
    return WyckoffSite(element, letter, wp.multiplicity, wp.site_symmetry, wp.enumeration, wp.dof)


@contextmanager
def _spglib_raises() -> Iterator[None]:
    """spglib raises `SpglibError` inside the block; its process-wide flag is restored after (not thread-safe)."""
    previous = spglib.error.OLD_ERROR_HANDLING
    spglib.error.OLD_ERROR_HANDLING = False
    try:
        with warnings.catch_warnings():  # SPGLIB_OLD_ERROR_HANDLING=1 in the environment overrides the flag
            warnings.filterwarnings("ignore", message="Set OLD_ERROR_HANDLING", category=DeprecationWarning)
            yield
    finally:
        spglib.error.OLD_ERROR_HANDLING = previous


def _check_tolerance(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _spglib_cell(structure, symprec: float) -> tuple[tuple, list[str]]:
    """(lattice, fractional coordinates, atomic numbers) of a checked structure, and its element symbols."""
    if not isinstance(structure, IStructure):
        kind = f"{type(structure).__module__}.{type(structure).__qualname__}"
        is_ase = any(c.__module__.split(".")[0] == "ase" for c in type(structure).__mro__)
        hint = "; convert ASE Atoms with pymatgen.io.ase.AseAtomsAdaptor.get_structure(atoms)" if is_ase else ""
        raise TypeError(f"a pymatgen Structure is expected, got {kind}{hint}")
    if len(structure) == 0:
        raise TokenizationError("structure has no sites")
    for i, site in enumerate(structure):
        if not site.is_ordered:
            raise TokenizationError(
                f"disordered structure (partial occupancy) has no Wyckoff representation: "
                f"site {i} is {site.species.formula}"
            )
    symbols = [site.specie.symbol for site in structure]
    for symbol in set(symbols):
        if not Element.is_valid_symbol(symbol):
            raise TokenizationError(f"unknown element {symbol!r}")
    lattice, frac = np.asarray(structure.lattice.matrix, float), np.asarray(structure.frac_coords, float)
    if not np.isfinite(lattice).all():
        raise TokenizationError(f"lattice has non-finite entries: {lattice.tolist()}")
    if not np.isfinite(frac).all():
        bad = sorted({int(i) for i in np.nonzero(~np.isfinite(frac))[0]})
        raise TokenizationError(f"non-finite coordinates at sites {bad}")
    volume = abs(np.linalg.det(lattice))
    if not volume > 1e-6 * np.prod(np.linalg.norm(lattice, axis=1)):
        raise TokenizationError(f"degenerate lattice (volume {volume:.3g} A^3): {lattice.tolist()}")
    _check_no_overlap(structure, symbols, symprec)
    return (lattice, frac, [Element(s).Z for s in symbols]), symbols


def _check_no_overlap(structure, symbols: list[str], symprec: float) -> None:
    """Raise `TokenizationError` naming the closest pair of atoms (periodic images included) nearer than symprec."""
    shortest = min(structure.lattice.get_lll_reduced_lattice().abc)  # also bounds the neighbour search below
    if symprec >= shortest:
        raise TokenizationError(
            f"symprec={symprec} A is not below the shortest lattice vector ({shortest:.4f} A): "
            f"every atom overlaps its own periodic image"
        )
    centers, points, offsets, distances = structure.get_neighbor_list(symprec, exclude_self=False)
    pair = (centers < points) | ((centers == points) & np.any(offsets != 0, axis=1))
    if pair.any():
        k = np.flatnonzero(pair)[np.argmin(distances[pair])]
        i, j = int(centers[k]), int(points[k])
        raise TokenizationError(
            f"atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {distances[k]:.4f} A apart, closer than "
            f"symprec={symprec} A: at this tolerance they are one point, which has no Wyckoff representation"
        )


def _sort_key(site: WyckoffSite) -> tuple:
    return (letter_rank(site.letter), Element(site.element).Z)


@dataclass(frozen=True)
class WyckoffRepresentation:
    """Space group plus the (unordered) sites of a crystal; sites kept sorted by letter, then Z."""

    spacegroup: int
    sites: tuple[WyckoffSite, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(sorted(self.sites, key=_sort_key)))

    # ---------- construction
    @classmethod
    def from_structure(cls, structure, symprec: float = 0.1, angle_tolerance: float = 5.0) -> WyckoffRepresentation:
        """Tokenize a pymatgen ``Structure``; raises `TokenizationError` with the reason."""
        _check_tolerance("symprec", symprec)
        _check_tolerance("angle_tolerance", angle_tolerance)
        cell, symbols = _spglib_cell(structure, symprec)
        with _spglib_raises():
            try:
                dataset = spglib.get_symmetry_dataset(cell, symprec=symprec, angle_tolerance=angle_tolerance)
            except spglib.error.SpglibError as err:
                raise TokenizationError(f"spglib failed: {err}") from None
        if dataset is None:
            raise TokenizationError(f"spglib found no symmetry (symprec={symprec}, angle_tolerance={angle_tolerance})")
        orbits = np.unique(dataset.crystallographic_orbits)
        sites = [_site(int(dataset.number), symbols[i], dataset.wyckoffs[i]) for i in orbits]
        return cls(int(dataset.number), tuple(sites))

    @classmethod
    def from_tokens(cls, spacegroup: int, tokens: Iterable[tuple[str, str, int]]) -> WyckoffRepresentation:
        """Build from (element, site symmetry, enumeration) tokens; raises `InvalidSequenceError`."""
        reason = formal_validity_error(spacegroup, tokens)
        if reason:
            raise InvalidSequenceError(reason)
        table = spacegroup_table(spacegroup)
        sites = [_site(spacegroup, el, table.by_token(ss, int(en)).letter) for el, ss, en in tokens]
        return cls(int(spacegroup), tuple(sites))

    @classmethod
    def from_pyxtal_args(cls, args: dict) -> WyckoffRepresentation:
        """Inverse of `to_pyxtal_args`; ValueError if species and sites differ in length."""
        if len(args["species"]) != len(args["sites"]):
            raise ValueError(f"pyXtal args: {len(args['species'])} species but {len(args['sites'])} site lists")
        sites = []
        for element, labels in zip(args["species"], args["sites"], strict=True):
            for label in labels:
                sites.append(_site(int(args["group"]), element, label.lstrip("0123456789")))
        return cls(int(args["group"]), tuple(sites))

    @classmethod
    def from_dict(cls, d: dict) -> WyckoffRepresentation:
        return cls(int(d["spacegroup"]), tuple(WyckoffSite(**s) for s in d["sites"]))

    def as_dict(self) -> dict:
        return {"spacegroup": self.spacegroup, "sites": [asdict(s) for s in self.sites]}

    to_dict = as_dict

    # ---------- views
    @property
    def tokens(self) -> list[tuple[str, str, int]]:
        return [s.token for s in self.sites]

    @property
    def n_sites(self) -> int:
        return len(self.sites)

    @property
    def elements(self) -> list[str]:
        """Distinct elements, in order of first appearance."""
        return list(dict.fromkeys(s.element for s in self.sites))

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    @property
    def dof(self) -> int:
        """Summed degrees of freedom of the occupied Wyckoff positions."""
        return sum(s.dof for s in self.sites)

    @property
    def composition(self):
        """Composition of the conventional cell, a pymatgen ``Composition``."""
        counts: dict[str, int] = {}
        for s in self.sites:
            counts[s.element] = counts.get(s.element, 0) + s.multiplicity
        return Composition(counts)

    def to_pyxtal_args(self) -> dict:
        """Arguments of pyXtal ``random_crystal.from_random(3, group, species, numIons, sites=...)``."""
        species = self.elements
        sites = [[s.label for s in self.sites if s.element == el] for el in species]
        num_ions = [sum(s.multiplicity for s in self.sites if s.element == el) for el in species]
        return {"group": self.spacegroup, "species": species, "numIons": num_ions, "sites": sites}

    # ---------- equivalences
    def aligned_equivalents(self) -> list[tuple[WyckoffSite, ...]]:
        """Sites of every distinct equivalent representation, aligned with ``self.sites``."""
        table = spacegroup_table(self.spacegroup)
        out, seen = [], set()
        for perm in table.normalizer:
            mapped = tuple(_site(self.spacegroup, s.element, perm[s.letter]) for s in self.sites)
            key = tuple(sorted(mapped, key=_sort_key))
            if key not in seen:
                seen.add(key)
                out.append(mapped)
        return out

    def equivalents(self) -> list[WyckoffRepresentation]:
        """All distinct representations under the group's normalizer, this one first."""
        return [WyckoffRepresentation(self.spacegroup, sites) for sites in self.aligned_equivalents()]

    def canonical(self) -> WyckoffRepresentation:
        """A unique representative of the equivalence class (smallest letter sequence)."""
        return min(self.equivalents(), key=lambda r: [(letter_rank(s.letter), s.element) for s in r.sites])

    def __str__(self) -> str:
        table = spacegroup_table(self.spacegroup)
        body = ", ".join(f"{s.element}@{s.label}({s.site_symmetry},{s.enumeration})" for s in self.sites)
        return f"{table.symbol} ({self.spacegroup}): {body}"


def formal_validity_error(spacegroup: int, tokens: Iterable[Sequence]) -> str | None:
    """Why a token sequence is not a formally valid Wyckoff representation (paper Appendix B), or None."""
    try:
        table = spacegroup_table(spacegroup)
    except ValueError as err:
        return str(err)
    site_symmetries = set(table.site_symmetries)
    used_fixed: set[str] = set()
    tokens = list(tokens)
    if not tokens:
        return "empty sequence (no sites)"
    for i, (element, ss, enum) in enumerate(tokens):
        if not isinstance(element, str) or not Element.is_valid_symbol(element):
            return f"site {i}: unknown element {element!r}"
        if ss not in site_symmetries:
            return f"site {i}: site symmetry {ss!r} does not occur in space group {spacegroup}"
        try:
            wp = table.by_token(ss, int(enum))
        except (KeyError, ValueError, TypeError):
            return f"site {i}: enumeration {enum!r} is not valid for ({ss}, group {spacegroup})"
        if wp.dof == 0:
            if wp.letter in used_fixed:
                return f"site {i}: position {wp.label} has no degrees of freedom and is already occupied"
            used_fixed.add(wp.letter)
    return None
