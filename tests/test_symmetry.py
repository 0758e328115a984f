"""Known facts about the Wyckoff tables (paper section 3.1, docs/paper-notes.md)."""

from wylib.symmetry import all_site_symmetries, max_enumeration, spacegroup_features, spacegroup_table, wyckoff_tables


def test_counts_over_all_groups():
    tables = wyckoff_tables()
    assert len(tables) == 230
    assert sum(len(t.positions) for t in tables.values()) == 1731
    assert len(all_site_symmetries()) == 78
    assert len({(n, wp.site_symmetry) for n, t in tables.items() for wp in t.positions}) == 1146
    assert max_enumeration() == 7


def test_fm3m_positions():
    t = spacegroup_table(225)
    assert t.symbol == "Fm-3m"
    a, b, c = t.by_letter("a"), t.by_letter("b"), t.by_letter("c")
    assert (a.multiplicity, a.site_symmetry, a.enumeration, a.dof) == (4, "m-3m", 0, 0)
    assert (b.multiplicity, b.site_symmetry, b.enumeration) == (4, "m-3m", 1)
    assert (c.multiplicity, c.site_symmetry, c.enumeration) == (8, "-43m", 0)
    assert t.by_letter("l").dof == 3 and t.by_letter("l").multiplicity == 192


def test_pmmm_eight_mmm_positions_enumerated():
    t = spacegroup_table(47)
    mmm = [wp for wp in t.positions if wp.site_symmetry == "mmm"]
    assert [wp.letter for wp in mmm] == list("abcdefgh")
    assert [wp.enumeration for wp in mmm] == list(range(8))
    assert t.by_letter("A").site_symmetry == "1" and t.by_letter("A").dof == 3
    # oriented symbols are distinct tokens
    assert {"2mm", "m2m", "mm2"} <= set(t.site_symmetries)


def test_normalizer_permutations():
    t = spacegroup_table(225)
    assert t.normalizer[0] == {wp.letter: wp.letter for wp in t.positions}
    assert {"a": "b", "b": "a"}.items() <= t.normalizer[1].items()
    for table in wyckoff_tables().values():  # every permutation is a bijection of the letters
        letters = sorted(wp.letter for wp in table.positions)
        assert all(sorted(p.values()) == letters for p in table.normalizer)
        # a permutation maps a position onto one of the same multiplicity and DoF
        for p in table.normalizer:
            for wp in table.positions:
                img = table.by_letter(p[wp.letter])
                assert (img.multiplicity, img.dof) == (wp.multiplicity, wp.dof)


def test_orthorhombic_permutation_rederives_site_symmetry():
    """Axis permutations of Pmmm move 2mm onto m2m: site symmetry must follow the letter."""
    t = spacegroup_table(47)
    changed = [(wp.site_symmetry, t.by_letter(p[wp.letter]).site_symmetry) for p in t.normalizer for wp in t.positions]
    assert ("2mm", "m2m") in changed


def test_spacegroup_features_unique():
    f = spacegroup_features()
    assert f.shape[0] == 231 and f.shape[1] > 50
    assert len({tuple(r.tolist()) for r in f[1:]}) == 230
    assert f[0].abs().sum() == 0
