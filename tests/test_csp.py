"""The CSP study (studies/csp): the composition draw, the matcher, the filtered baseline's accounting and a
1-composition end-to-end run of the benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Composition

from studies.csp import benchmark, methods
from studies.csp.common import MATCHER_SETTINGS, RESULTS, best_rms, matcher, parse_rows
from studies.csp.compositions import COLUMNS, draw
from wylib.build import trial_seed


def _table(n_seen=30, n_new=20):
    rows = [dict(formula=f"X{i}", material_id=f"mp-{i}", z=1, atoms=2, spacegroup=1, system=f"S{i}",
                 n_test_structures=1, material_ids=f"mp-{i}") for i in range(n_seen + n_new)]  # fmt: skip
    return pd.DataFrame(rows), {f"S{i}" for i in range(n_seen)}


def test_draw_is_deterministic_and_stratified():
    table, known = _table()
    a, b = draw(table, known, n=10, share_new=0.4, seed=3), draw(table, known, n=10, share_new=0.4, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == COLUMNS and a["formula"].is_unique
    assert int((~a["system_in_train_val"]).sum()) == 4
    assert not draw(table, known, n=10, share_new=0.4, seed=4)["formula"].equals(a["formula"])
    with pytest.raises(ValueError, match="eligible"):
        draw(table, known, n=50, share_new=0.9)


def test_committed_compositions():
    df = pd.read_csv(RESULTS / "compositions.csv")
    assert len(df) == 200 and df["formula"].is_unique and int((~df["system_in_train_val"]).sum()) == 100
    for r in df.itertuples():
        assert Composition(r.formula).num_atoms * r.z == r.atoms and r.material_id in r.material_ids.split(";")


def test_matcher_settings(rocksalt, perovskite):
    assert MATCHER_SETTINGS == dict(stol=0.5, angle_tol=10, ltol=0.3)
    sm = matcher()
    assert (sm.stol, sm.angle_tol, sm.ltol) == (0.5, 10, 0.3)
    moved = rocksalt.copy()
    moved.translate_sites([0], [0.01, 0, 0])
    assert 0 < best_rms(moved, [perovskite, rocksalt]) < 0.05
    assert best_rms(rocksalt, [rocksalt]) == pytest.approx(0, abs=1e-8)
    assert best_rms(rocksalt, [perovskite]) is None and best_rms(None, [rocksalt]) is None


@pytest.fixture(scope="module")
def default_model():
    from wylib.sample import spacegroup_counts
    from wylib.train import load_run

    torch.set_num_threads(1)
    model, vocab, _ = load_run("runs/default", device="cpu")
    return model, vocab, spacegroup_counts("mp_20_biternary_open")


def test_filtered_accounting(default_model):
    model, vocab, prior = default_model
    from wylib.sample import sample

    first = sample(model, vocab, 300, spacegroup_distribution=prior, constrained=True, seed=trial_seed(0, 10**6),
                   device="cpu", progress=False)  # fmt: skip
    keys = [None if r is None else (Composition(r.composition).reduced_formula, int(r.composition.num_atoms))
            for r in first.representations]  # fmt: skip
    target = next(k for k in keys if k is not None)
    positions = [i for i, k in enumerate(keys) if k == target]
    state = methods.filtered_stream(model, vocab, prior, {target: 7}, 2, 0, cap=600, batch=300, state={})
    got = state["found"]["7"]
    assert [p for p, _ in got] == positions[:2] and all(s["sample_id"].startswith("c007_") for _, s in got)
    assert state["sampled"] == (300 if len(positions) >= 2 else 600)
    resumed = methods.filtered_stream(model, vocab, prior, {target: 7}, 2, 0, cap=600, batch=300, state=state)
    assert resumed["found"]["7"] == got  # a finished stream draws nothing more
    nothing = methods.filtered_stream(model, vocab, prior, {("Xe", 1): 0}, 1, 0, cap=300, batch=300, state={})
    assert nothing["sampled"] == 300 and nothing["found"]["0"] == []


def test_random_pyxtal_counts():
    prior = np.zeros(231)
    prior[[1, 2, 225]] = 1.0
    samples, info = methods.random_pyxtal("NaCl", 4, 5, 2, 0, prior)
    assert len(samples) == 2 and [s["sample_id"] for s in samples] == ["c005_00", "c005_01"]
    for s in samples:
        assert s["pyxtal_args"]["numIons"] == [4, 4] and s["pyxtal_args"]["group"] in (1, 2, 225)
    assert info["compatible_groups"] == 3 and info["group_failures"] >= 0


@pytest.mark.slow
def test_benchmark_end_to_end(tmp_path):
    frame = benchmark.main(["--limit", "1", "--k", "1", "--steps", "5", "--cap", "600", "--batch", "300",
                            "--out", str(tmp_path / "work"), "--results", str(tmp_path / "res"), "--name", "t",
                            "--no-progress"])  # fmt: skip
    assert list(frame["method"]) == list(benchmark.METHODS)
    per = pd.read_csv(tmp_path / "res" / "t_compositions.csv")
    assert len(per) == 3 and set(per["method"]) == set(benchmark.METHODS)
    text = (tmp_path / "res" / "t.md").read_text()
    assert "match@1" in text and "stol=0.5" in text and "machine:" in text
    assert frame.set_index("method").loc["ours", "candidates"] == 1


def test_benchmark_parts_combine_to_the_full_run(tmp_path):
    """Two slices of the list run as parts (one --out, as in one session) and combined give the per-composition
    rows of one run over both; the combined table says how much of the list it covers."""
    common = ["--k", "1", "--steps", "5", "--cap", "600", "--batch", "300", "--out", str(tmp_path / "work"),
              "--results", str(tmp_path / "res"), "--no-progress"]  # fmt: skip
    for rows in ("0:1", "1:2"):
        benchmark.main(["--rows", rows, *common])
    assert (tmp_path / "res" / "csp_rows_001-002_compositions.csv").is_file()
    combined = benchmark.main(["--combine", *common])
    benchmark.main(["--limit", "2", "--name", "full", *common])
    cols = ["method", "index", "candidates", "built", "relaxed", "match_1", "match_k", "rms_1", "first_match"]
    got, full = (pd.read_csv(tmp_path / "res" / f"{n}_compositions.csv") for n in ("csp", "full"))
    key = ["method", "index"]
    pd.testing.assert_frame_equal(got[cols].sort_values(key, ignore_index=True),
                                  full[cols].sort_values(key, ignore_index=True))  # fmt: skip
    assert list(combined["method"]) == list(benchmark.METHODS) and combined["compositions"].tolist() == [2, 2, 2]
    n = len(pd.read_csv(RESULTS / "compositions.csv"))
    assert f"PARTIAL: 2 of {n} compositions" in (tmp_path / "res" / "csp.md").read_text()
    with pytest.raises(SystemExit, match="no parts"):
        benchmark.main(["--combine", "--name", "nothing", *common])


@pytest.mark.parametrize("bad", ["5", "a:b", "3:1", "-1:4", "1:2:3"])
def test_bad_rows_get_a_clear_error(bad):
    with pytest.raises(SystemExit, match="--rows wants"):
        parse_rows(bad)
    assert parse_rows("35:60") == slice(35, 60)


def test_efficiency_score_of_nothing():
    from studies.csp.efficiency import score

    empty = pd.DataFrame(columns=["structure", "energy_per_atom"])
    assert score(empty, []) == dict(candidates=0, valid=0, unique=0, novel=0, stable=0, sun=0)


def test_efficiency_rate_intervals_hand_computed():
    """Ratio of sums per method (targeted (2 + 4) / (1 + 2) = 2, filtered (1 + 0) / (1 + 1) = 0.5), the paired
    difference 1.5; each interval holds its estimate."""
    from studies.csp.efficiency import rate_intervals

    frame = pd.DataFrame(dict(system=["A", "B", "A", "B"], method=["targeted"] * 2 + ["filtered"] * 2,
                              sun=[2, 4, 1, 0], cpu_minutes=[1.0, 2.0, 1.0, 1.0]))  # fmt: skip
    got = {k: [float(x) for x in v.replace("[", "").replace("]", "").replace(",", "").split()]
           for k, v in rate_intervals(frame, n_boot=200).items()}  # fmt: skip
    assert [got[k][0] for k in ("targeted", "filtered", "targeted - filtered")] == [2.0, 0.5, 1.5]
    assert all(lo <= value <= hi for value, lo, hi in got.values())


def test_efficiency_parts_combine_to_the_full_run(tmp_path):
    """Two systems run as two parts in separate work directories (as on two machines) and combined give the counts
    of one run over both; the stream is drawn for all systems in every part, and its finds are built and relaxed
    (the cap is large enough that the filtered side has candidates)."""
    from studies.csp import efficiency

    common = ["--systems", "2", "--n", "2", "--steps", "5", "--cap", "10000", "--batch", "10000", "--no-progress"]
    res = ["--results", str(tmp_path / "res")]
    for rows in ("0:1", "1:2"):
        efficiency.main(["--rows", rows, "--out", str(tmp_path / rows.replace(":", "-")), *res, *common])
    combined = efficiency.main(["--combine", *res, *common])
    full = efficiency.main(["--name", "full", "--out", str(tmp_path / "full"), *res, *common])
    counts = ["system", "method", "samples", "candidates", "valid", "unique", "novel", "stable", "sun"]
    pd.testing.assert_frame_equal(combined[counts], full[counts], check_dtype=False)
    assert len(combined) == 4 and "PARTIAL" not in (tmp_path / "res" / "efficiency.md").read_text()
    assert (combined.loc[combined["method"] == "filtered", "candidates"] >= 1).all()  # built and relaxed
    (tmp_path / "res" / "efficiency_rows_001-002.csv").unlink()
    efficiency.main(["--combine", "--systems", "2", *res])
    assert "(PARTIAL: 1 of 2)" in (tmp_path / "res" / "efficiency.md").read_text()


def test_clock_keeps_wall_and_cpu_time_and_resumes(tmp_path):
    """A sleeping stage costs wall time, not CPU time; a busy one costs both; a new Clock on the same file adds up,
    and a file of the older wall-only format is read as wall seconds."""
    import json
    import time

    from studies.csp.common import Clock

    clock = Clock(tmp_path / "clock.json")
    with clock.stage("sleep"):
        time.sleep(0.3)
    with clock.stage("busy"):
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    assert clock.seconds["sleep"] >= 0.3 and clock.cpu["sleep"] < 0.1
    assert clock.cpu["busy"] >= 0.3 and clock.total(cpu=True) < clock.total()
    again = Clock(tmp_path / "clock.json")
    with again.stage("busy"):
        pass
    assert again.seconds["busy"] >= clock.seconds["busy"] and again.cpu["sleep"] == clock.cpu["sleep"]
    with again.stage("sleep", redo=True):  # redone in full: replaces the 0.3 s, does not add to it
        pass
    assert again.seconds["sleep"] < 0.1 and again.total() < clock.total()
    (tmp_path / "old.json").write_text(json.dumps({"relax": 12.5}))
    old = Clock(tmp_path / "old.json")
    assert old.seconds == {"relax": 12.5} and old.cpu == {} and old.total(cpu=True) == 0


def test_paired_comparison_hand_computed():
    """ours [1, 1, 0, 1], random [0, 1, 1, -], filtered [0, 0, 0, 0]: paired on the compositions both ran."""
    hits = {"ours": [1, 1, 0, 1], "random_pyxtal": [0, 1, 1], "filtered": [0, 0, 0, 0]}
    per = pd.DataFrame([dict(method=m, index=i, match_k=bool(h)) for m, hs in hits.items() for i, h in enumerate(hs)])
    t = benchmark.paired(per, 20, n_boot=200).set_index("comparison")
    r, f = t.loc["ours - random_pyxtal"], t.loc["ours - filtered"]
    assert (r["compositions"], r["only ours"], r["only other"]) == (3, 1, 1)
    assert r["match@20 difference, pp"] == 0.0 and r["McNemar exact p"] == 1.0
    assert (f["compositions"], f["only ours"], f["only other"]) == (4, 3, 0)
    assert f["match@20 difference, pp"] == 75.0 and f["McNemar exact p"] == pytest.approx(0.25)
    lo, hi = (float(x) for x in f["95 % CI (paired bootstrap)"].strip("[]").split(","))
    assert 0 <= lo <= 75 <= hi <= 100
