"""studies/chemistry/wyckoff_difference.py: each Table 1 share over its own subset, and a - b with an interval."""

from __future__ import annotations

import numpy as np

from studies.chemistry.wyckoff_difference import differences, share_flags


def _table(rocksalt, perovskite):
    """A real Wyckoff table: rock salt twice (the repeat is not Wyckoff-unique), perovskite, one invalid sample;
    rock salt is in the reference (not novel)."""
    from wylib.evaluate import wyckoff_table
    from wylib.tokens import WyckoffRepresentation

    salt, perov = WyckoffRepresentation.from_structure(rocksalt), WyckoffRepresentation.from_structure(perovskite)
    return wyckoff_table([salt, salt, perov, None], {salt.canonical()})


def test_share_flags_use_table_1_subsets(rocksalt, perovskite):
    f = share_flags(_table(rocksalt, perovskite))
    assert f["valid"].tolist() == [True, True, True, False]  # all samples
    assert f["wyckoff_unique"].tolist() == [True, False, True]  # valid ones
    assert f["wyckoff_novel"].tolist() == [False, True]  # valid, unique: rock salt known, perovskite new
    assert f["charge_neutral"].tolist() == [True]  # statistics set: perovskite only
    assert f["p1"].tolist() == [False]


def test_differences_sign_and_interval():
    a = {m: np.r_[np.ones(90, bool), np.zeros(10, bool)] for m in ("valid", "wyckoff_unique", "charge_neutral", "p1")}
    b = dict(a)
    a["wyckoff_novel"] = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    b["wyckoff_novel"] = np.r_[np.ones(95, bool), np.zeros(5, bool)]
    t = differences(a, b, n_bootstrap=200).set_index("share")
    assert abs(t.loc["Wyckoff novelty %", "a - b, pp"] + 45.0) < 1e-9
    assert t.loc["Wyckoff novelty %", "a worse beyond the interval"]
    assert t.loc["formal validity %", "a - b, pp"] == 0.0
    assert not t.loc["formal validity %", "a worse beyond the interval"]
