"""Tests of studies.yardstick.recall: rediscovery tables rebuilt from counts, recall rates of reference splits."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from studies.yardstick.recall import recall_rates, table_from_counts
from wylib import rediscovery
from wylib.tokens import WyckoffRepresentation

from test_rediscovery import _counts


def test_table_from_counts_reproduces_the_summary():
    row = _counts(200, 92, 3, 0)
    t = table_from_counts(row)
    back = rediscovery.summary_row("x", t)
    assert {k: back[k] for k in row} == row
    with pytest.raises(ValueError, match="inconsistent"):
        table_from_counts({**row, "S.U.N. vs train+val": 99})
    with pytest.raises(ValueError, match="inconsistent"):
        table_from_counts(_counts(5, 4, 2, 0))


def test_recall_rates_of_real_representations(rocksalt, perovskite):
    """Recall per reference class: rock salt recalled from a one-class split, perovskite from a two-class one."""
    rs = WyckoffRepresentation.from_structure(rocksalt)
    pv = WyckoffRepresentation.from_structure(perovskite)
    cscl = WyckoffRepresentation.from_structure(Structure(Lattice.cubic(3.3), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3]))
    refs = {"a": [rs], "b": [pv, cscl], "c": [cscl]}
    t = recall_rates([rs, rs, pv, None, cscl], refs, baseline="b", n_bootstrap=50).set_index("split")
    assert t["samples"].tolist() == [3, 3, 3]  # the repeated rock salt counts once, None is skipped
    assert t["classes"].tolist() == [1, 2, 1]
    assert t["matches"].tolist() == [1, 2, 1]
    assert t.loc["a", "ratio to b"] == pytest.approx((1 / 3 / 1) / (2 / 3 / 2))
    with pytest.raises(ValueError, match="baseline"):
        recall_rates([rs], refs, baseline="z")
    with pytest.raises(ValueError, match="no valid samples"):
        recall_rates([None], refs, baseline="a")
