"""The tokenizer on real crystals, its invariances and its error paths."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spglib
from pymatgen.core import IStructure, Lattice, Molecule, Structure
from pymatgen.transformations.standard_transformations import RotationTransformation

from wylib.data import parse_cif
from wylib.tokens import InvalidSequenceError, TokenizationError, WyckoffRepresentation, formal_validity_error


def test_rocksalt(rocksalt):
    rep = WyckoffRepresentation.from_structure(rocksalt)
    assert rep.spacegroup == 225
    assert set(rep.tokens) == {("Na", "m-3m", 0), ("Cl", "m-3m", 1)}
    assert {s.label for s in rep.sites} == {"4a", "4b"}
    eq = rep.equivalents()
    assert len(eq) == 2
    assert set(eq[1].tokens) == {("Cl", "m-3m", 0), ("Na", "m-3m", 1)}  # Na and Cl swap 4a <-> 4b
    assert rep.n_sites == 2 and rep.n_elements == 2 and rep.dof == 0


def test_perovskite(perovskite):
    rep = WyckoffRepresentation.from_structure(perovskite)
    assert rep.spacegroup == 221
    assert set(rep.tokens) == {("Sr", "m-3m", 0), ("Ti", "m-3m", 1), ("O", "4/mm.m", 1)}  # 1a, 1b, 3d
    assert {s.label for s in rep.sites} == {"1a", "1b", "3d"}
    eq = {frozenset(e.tokens) for e in rep.equivalents()}
    assert frozenset({("Ti", "m-3m", 0), ("Sr", "m-3m", 1), ("O", "4/mm.m", 0)}) in eq  # origin on Ti: O on 3c
    assert rep.to_pyxtal_args() == {
        "group": 221,
        "species": ["Sr", "Ti", "O"],
        "numIons": [1, 1, 3],
        "sites": [["1a"], ["1b"], ["3d"]],
    }
    assert WyckoffRepresentation.from_pyxtal_args(rep.to_pyxtal_args()) == rep
    assert rep.composition.reduced_formula == "SrTiO3"
    short = {"group": 221, "species": ["Sr", "Ti", "O"], "numIons": [1, 1, 3], "sites": [["1a"], ["1b"]]}
    with pytest.raises(ValueError, match="3 species but 2 site lists"):  # once dropped O silently
        WyckoffRepresentation.from_pyxtal_args(short)


def test_known_mp20_structure(test_split_head):
    """mp-10009, GaTe in P6_3/mmc (beta-GaS type): Ga and Te both on 4f (3m., second 3m. position)."""
    row = test_split_head[test_split_head.material_id == "mp-10009"].iloc[0]
    rep = WyckoffRepresentation.from_structure(parse_cif(row.cif))
    assert rep.spacegroup == 194 == row["spacegroup.number"]
    assert rep.tokens == [("Ga", "3m.", 1), ("Te", "3m.", 1)]
    assert [s.label for s in rep.sites] == ["4f", "4f"] and rep.dof == 2


def test_spacegroup_agrees_with_dataset(test_split_head):
    for cif, number in zip(test_split_head.cif, test_split_head["spacegroup.number"], strict=True):
        assert WyckoffRepresentation.from_structure(parse_cif(cif)).spacegroup == number


def _classes(structure):
    return {frozenset(e.tokens) for e in WyckoffRepresentation.from_structure(structure).equivalents()}


def test_invariant_to_origin_orientation_setting_supercell(test_split_head, rocksalt):
    rng = np.random.default_rng(0)
    structures = [parse_cif(c) for c in test_split_head.cif[:12]] + [rocksalt]
    for s in structures:
        reference = _classes(s)
        shifted = s.copy()
        shifted.translate_sites(list(range(len(s))), rng.random(3), frac_coords=True, to_unit_cell=True)
        rotated = RotationTransformation([1, 1, 0.3], 37).apply_transformation(s)
        primitive = s.get_primitive_structure()
        supercell = s.copy()
        supercell.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 2]])
        reordered = Structure.from_sites([s[i] for i in rng.permutation(len(s))])
        for variant in (shifted, rotated, primitive, supercell, reordered):
            assert _classes(variant) == reference


def test_canonical_is_unique(perovskite):
    rep = WyckoffRepresentation.from_structure(perovskite)
    assert {e.canonical() for e in rep.equivalents()} == {rep.canonical()}


def test_disordered_structure_raises():
    s = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(TokenizationError, match="disordered"):
        WyckoffRepresentation.from_structure(s)


def test_malformed_cif_raises():
    with pytest.raises(ValueError, match="unparsable CIF"):
        parse_cif("data_broken\n_cell_length_a 3.0\nthis is not a cif\n")


def test_unknown_element_raises():
    from pymatgen.core import DummySpecies

    s = Structure(Lattice.cubic(4.0), [DummySpecies("Xa")], [[0, 0, 0]])
    with pytest.raises(TokenizationError, match="unknown element"):
        WyckoffRepresentation.from_structure(s)


def test_formal_validity_reasons():
    assert formal_validity_error(225, [("Na", "m-3m", 0), ("Cl", "m-3m", 1)]) is None
    assert "does not occur" in formal_validity_error(225, [("Na", "mmm", 0)])
    assert "not valid" in formal_validity_error(225, [("Na", "m-3m", 2)])
    assert "already occupied" in formal_validity_error(225, [("Na", "m-3m", 0), ("Cl", "m-3m", 0)])
    assert "unknown element" in formal_validity_error(225, [("Qq", "m-3m", 0)])
    assert formal_validity_error(225, [("Na", "1", 0), ("Cl", "1", 0)]) is None  # general position twice is fine
    with pytest.raises(InvalidSequenceError):
        WyckoffRepresentation.from_tokens(225, [("Na", "m-3m", 0), ("Na", "m-3m", 0)])


def test_from_tokens_round_trip(rocksalt):
    rep = WyckoffRepresentation.from_structure(rocksalt)
    assert WyckoffRepresentation.from_tokens(rep.spacegroup, rep.tokens) == rep
    assert WyckoffRepresentation.from_dict(rep.as_dict()) == rep


# ---------- orbits: one site per crystallographic orbit, also where spglib's equivalent_atoms splits one
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPLIT_ORBIT_IDS = ["mp-22246", "mp-19156", "mp-1279131", "mp-761574"]


def _pyxtal_representation(structure) -> WyckoffRepresentation:
    """The authors' route: pyXtal ``from_seed(structure, tol=0.1)`` and its Wyckoff sites."""
    from pyxtal import pyxtal

    xtal = pyxtal()
    xtal.from_seed(structure, tol=0.1)
    return WyckoffRepresentation.from_pyxtal_args(
        {
            "group": xtal.group.number,
            "species": [s.specie for s in xtal.atom_sites],
            "sites": [[s.wp.get_label()] for s in xtal.atom_sites],
        }
    )


@pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING")  # pyXtal calls spglib with its default flag
@pytest.mark.parametrize("material_id", SPLIT_ORBIT_IDS)
def test_split_orbits_agree_with_pyxtal(material_id):
    structure = parse_cif((FIXTURES / f"{material_id}.cif").read_text())
    rep = WyckoffRepresentation.from_structure(structure)
    assert formal_validity_error(rep.spacegroup, rep.tokens) is None
    assert rep.canonical() == _pyxtal_representation(structure).canonical()
    assert rep.composition.reduced_composition == structure.composition.reduced_composition
    assert WyckoffRepresentation.from_structure(structure.get_primitive_structure()).canonical() == rep.canonical()


def test_split_orbit_perovskite_supercell():
    """mp-22246, EuTiO3 as a 1x1x4 cell: Pm-3m with Eu 1a, Ti 1b and O once on 3c (not twice)."""
    rep = WyckoffRepresentation.from_structure(parse_cif((FIXTURES / "mp-22246.cif").read_text()))
    assert rep.spacegroup == 221 and [s.label for s in rep.sites] == ["1a", "1b", "3c"]


# ---------- spglib's process-wide error-handling flag
def test_import_leaves_spglib_error_flag_alone():
    code = (
        "import spglib.error as e; before = e.OLD_ERROR_HANDLING; import wylib.tokens, wylib.data; "
        "print(before, e.OLD_ERROR_HANDLING)"
    )
    env = {**os.environ, "PYTHONPATH": str(FIXTURES.parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after = out.stdout.split()
    assert before == after


@pytest.mark.parametrize("flag", [True, False])
def test_spglib_flag_is_set_only_during_the_call(monkeypatch, rocksalt, flag):
    monkeypatch.setattr(spglib.error, "OLD_ERROR_HANDLING", flag)
    original, seen = spglib.get_symmetry_dataset, []

    def recording(*args, **kwargs):
        seen.append(spglib.error.OLD_ERROR_HANDLING)
        return original(*args, **kwargs)

    monkeypatch.setattr(spglib, "get_symmetry_dataset", recording)
    assert WyckoffRepresentation.from_structure(rocksalt).spacegroup == 225
    assert seen == [False] and spglib.error.OLD_ERROR_HANDLING is flag

    def failing(*args, **kwargs):
        raise spglib.error.SpglibError("spacegroup search failed")

    monkeypatch.setattr(spglib, "get_symmetry_dataset", failing)
    with pytest.raises(TokenizationError, match="spglib failed: spacegroup search failed"):
        WyckoffRepresentation.from_structure(rocksalt)
    assert spglib.error.OLD_ERROR_HANDLING is flag
    monkeypatch.setattr(spglib, "get_symmetry_dataset", lambda *a, **k: None)  # old-style failure
    with pytest.raises(TokenizationError, match="no symmetry"):
        WyckoffRepresentation.from_structure(rocksalt)
    assert spglib.error.OLD_ERROR_HANDLING is flag


# ---------- overlapping atoms: an error naming the atoms and their distance, at the stated tolerance
def _with_extra_atom(structure, element: str, frac) -> Structure:
    s = structure.copy()
    s.append(element, frac)
    return s


@pytest.mark.parametrize("element", ["Na", "Cl"])
def test_nearly_overlapping_atoms_raise(rocksalt, element):
    s = _with_extra_atom(rocksalt, element, [0.015 / 5.64, 0, 0])  # 0.015 A from the Na at the origin
    with pytest.raises(TokenizationError, match=rf"atoms 0 \(Na\) and 8 \({element}\) are 0.0150 A apart.*symprec=0.1"):
        WyckoffRepresentation.from_structure(s)
    assert WyckoffRepresentation.from_structure(s, symprec=0.01).spacegroup < 225  # a finer tolerance: two sites


def test_overlap_across_the_cell_boundary_raises(rocksalt):
    s = _with_extra_atom(rocksalt, "Cl", [0, 0, 1 - 0.02 / 5.64])
    with pytest.raises(TokenizationError, match=r"atoms 0 \(Na\) and 8 \(Cl\) are 0.0200 A apart"):
        WyckoffRepresentation.from_structure(s)


@pytest.mark.parametrize("element", ["Na", "Cl"])
def test_atoms_at_the_same_point_raise(rocksalt, element):
    with pytest.raises(TokenizationError, match=rf"atoms 0 \(Na\) and 8 \({element}\) are 0.0000 A apart"):
        WyckoffRepresentation.from_structure(_with_extra_atom(rocksalt, element, [0, 0, 0]))


def test_symprec_beyond_shortest_lattice_vector_raises(rocksalt):
    with pytest.raises(TokenizationError, match="shortest lattice vector"):
        WyckoffRepresentation.from_structure(rocksalt.get_primitive_structure(), symprec=4.5)


# ---------- bad input is rejected before spglib sees it
@pytest.mark.parametrize(
    "kwargs",
    [
        {"symprec": 0},
        {"symprec": float("inf")},
        {"symprec": "0.1"},
        {"symprec": True},
        {"angle_tolerance": float("nan")},
        {"angle_tolerance": -1.0},
        {"angle_tolerance": 0},
    ],
)
def test_bad_tolerance_raises(rocksalt, kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
        WyckoffRepresentation.from_structure(rocksalt, **kwargs)


_CRASH_CASES = """
import numpy as np
from pymatgen.core import Lattice, Structure
from wylib.tokens import WyckoffRepresentation as W
s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
def with_coords(i, j, value):
    coords = s.frac_coords.copy(); coords[i, j] = value
    return Structure(s.lattice, s.species, coords)
def with_lattice(i, j, value):
    lattice = s.lattice.matrix.copy(); lattice[i, j] = value
    return Structure(Lattice(lattice), s.species, s.frac_coords)
cases = [lambda: W.from_structure(s, symprec=-0.1), lambda: W.from_structure(s, symprec=float("nan")),
         lambda: W.from_structure(with_coords(1, 1, np.nan)), lambda: W.from_structure(with_coords(3, 2, np.inf)),
         lambda: W.from_structure(with_lattice(0, 0, np.inf)), lambda: W.from_structure(with_lattice(1, 2, np.nan))]
for case in cases:
    try:
        case()
        print("no error")
    except ValueError as err:
        print(type(err).__name__, err)
"""


def test_inputs_that_crashed_spglib_raise():
    """Negative or NaN symprec, non-finite coordinates or lattice segfaulted inside spglib: a child process."""
    env = {**os.environ, "PYTHONPATH": str(FIXTURES.parent.parent)}
    out = subprocess.run([sys.executable, "-c", _CRASH_CASES], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "ValueError symprec must be a finite number > 0, got -0.1"
    assert lines[1] == "ValueError symprec must be a finite number > 0, got nan"
    assert lines[2] == "TokenizationError non-finite coordinates at sites [1]"
    assert lines[3] == "TokenizationError non-finite coordinates at sites [3]"
    assert lines[4].startswith("TokenizationError lattice has non-finite entries: [[inf, 0.0, 0.0]")
    assert lines[5].startswith("TokenizationError lattice has non-finite entries: [[5.64, 0.0, 0.0], [0.0, 5.64, nan]")


def test_not_a_structure_raises_type_error(rocksalt):
    for obj in (None, Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]), rocksalt.lattice):
        with pytest.raises(TypeError, match="a pymatgen Structure is expected"):
            WyckoffRepresentation.from_structure(obj)
    assert WyckoffRepresentation.from_structure(IStructure.from_sites(rocksalt)).spacegroup == 225


def test_ase_atoms_raise_type_error_with_conversion_hint(rocksalt):
    pytest.importorskip("ase")
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    for atoms in (bulk("NaCl", "rocksalt", a=5.64), AseAtomsAdaptor.get_atoms(rocksalt)):  # ase Atoms, a subclass
        with pytest.raises(TypeError, match=r"got .*Atoms; .*AseAtomsAdaptor\.get_structure\(atoms\)"):
            WyckoffRepresentation.from_structure(atoms)
        assert WyckoffRepresentation.from_structure(AseAtomsAdaptor.get_structure(atoms)).spacegroup == 225


def test_partial_occupancy_names_the_site():
    s = Structure(Lattice.cubic(4.0), ["Cs", {"Cl": 0.5}], [[0, 0, 0], [0.5, 0.5, 0.5]])  # a vacancy
    with pytest.raises(TokenizationError, match="disordered.*site 1 is Cl0.5"):
        WyckoffRepresentation.from_structure(s)


def test_empty_and_degenerate_structures_raise():
    with pytest.raises(TokenizationError, match="no sites"):
        WyckoffRepresentation.from_structure(Structure(Lattice.cubic(4.0), [], []))
    flat = Structure(Lattice([[4, 0, 0], [0, 4, 0], [4, 4, 0]]), ["Na"], [[0, 0, 0]])
    with pytest.raises(TokenizationError, match="degenerate lattice"):
        WyckoffRepresentation.from_structure(flat)
