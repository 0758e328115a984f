"""The tokenizer on real crystals, its invariances and its error paths."""
import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.transformations.standard_transformations import RotationTransformation

from wylib.data import parse_cif
from wylib.tokens import (InvalidSequenceError, TokenizationError, WyckoffRepresentation, formal_validity_error)


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
    assert rep.to_pyxtal_args() == {"group": 221, "species": ["Sr", "Ti", "O"], "numIons": [1, 1, 3],
                                    "sites": [["1a"], ["1b"], ["3d"]]}
    assert WyckoffRepresentation.from_pyxtal_args(rep.to_pyxtal_args()) == rep
    assert rep.composition.reduced_formula == "SrTiO3"


def test_known_mp20_structure(test_split_head):
    """mp-10009, GaTe in P6_3/mmc (beta-GaS type): Ga and Te both on 4f (3m., second 3m. position)."""
    row = test_split_head[test_split_head.material_id == "mp-10009"].iloc[0]
    rep = WyckoffRepresentation.from_structure(parse_cif(row.cif))
    assert rep.spacegroup == 194 == row["spacegroup.number"]
    assert rep.tokens == [("Ga", "3m.", 1), ("Te", "3m.", 1)]
    assert [s.label for s in rep.sites] == ["4f", "4f"] and rep.dof == 2


def test_spacegroup_agrees_with_dataset(test_split_head):
    for cif, number in zip(test_split_head.cif, test_split_head["spacegroup.number"]):
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
