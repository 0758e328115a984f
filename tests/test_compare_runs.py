"""tools/compare_runs.py: a rerun's Table 1 against the committed one, metric by metric."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tools.compare_runs import compare_tables, main

REPO = Path(__file__).resolve().parent.parent


def test_committed_table_against_itself_and_a_shifted_rerun(tmp_path):
    ref = pd.read_csv(REPO / "results" / "paper" / "table1.csv")
    same = compare_tables(ref, ref)
    assert len(same) > 20 and same.inside.all() and same.identical.all()
    assert {"WyckoffTransformer (this repo)", "WyFormer genes, 2-3 el., this repo's protocol"} <= set(same.row)
    assert not same.row.str.contains("published").any()  # the paper's rows have no intervals
    shifted = ref.copy()
    ours = shifted.row == "WyckoffTransformer (this repo)"
    shifted.loc[ours, "sun_paper"] = shifted.loc[ours, "sun_paper_high"] + 1.0  # outside the interval
    shifted = shifted[shifted.row != "Marginal baseline (no learning)"]  # a row the rerun lacks is skipped
    (tmp_path / "rerun.csv").write_text(shifted.to_csv(index=False))
    table = main(
        [
            str(REPO / "results" / "paper" / "table1.csv"),
            str(tmp_path / "rerun.csv"),
            "--name",
            "cmp",
            "--results-dir",
            str(tmp_path),
        ]
    )
    bad = table[~table.inside]
    assert list(zip(bad.row, bad.metric, strict=True)) == [("WyckoffTransformer (this repo)", "sun_paper")]
    changed = table[~table.identical]
    assert list(zip(changed.row, changed.metric, strict=True)) == [("WyckoffTransformer (this repo)", "sun_paper")]
    assert "Marginal baseline (no learning)" not in set(table.row)
    md = (tmp_path / "cmp.md").read_text()
    assert f"{len(table) - 1} of {len(table)} rerun values lie inside" in md and "**no**" in md
    assert f"{len(table) - 1} of {len(table)} are identical" in md


def test_sun_between_models_on_committed_counts(tmp_path):
    from studies.chemistry.sun_between_models import main as sun_main

    same = sun_main([str(REPO / "results" / "paper" / "sun_known.csv")] * 2 + ["--results-dir", str(tmp_path)])
    assert (same["a - b, pp"] == 0).all() and (same["Fisher p"] == 1).all()
    counts = pd.read_csv(REPO / "results" / "paper" / "sun_known.csv")
    better = counts.copy()
    ours = better.set == "WyckoffTransformer (this repo)"
    better.loc[ours, "S.U.N. vs train+val"] = better.loc[ours, "with E_hull"]  # every structure S.U.N.
    (tmp_path / "better.csv").write_text(better.to_csv(index=False))
    table = sun_main(
        [
            str(tmp_path / "better.csv"),
            str(REPO / "results" / "paper" / "sun_known.csv"),
            "--results-dir",
            str(tmp_path),
        ]
    )
    row = table.set_index("novelty against").loc["train+val (paper)"]
    n, k = int(counts.loc[ours, "with E_hull"].iloc[0]), int(counts.loc[ours, "S.U.N. vs train+val"].iloc[0])
    assert row["a - b, pp"] == round(100 * (n - k) / n, 1) and row["Fisher p"] < 0.001
    assert (tmp_path / "sun_between_models.md").exists()


def test_compare_relax_records_counts_identical_and_different_records():
    from tools.compare_relax_records import compare_records

    a = [
        dict(id="1/0", flag="converged", energy_per_atom=-3.0, n_steps=[2, 5]),
        dict(id="1/1", flag="converged", energy_per_atom=-3.1, n_steps=[1, 4]),
        dict(id="2/0", flag="not_converged", energy_per_atom=None, n_steps=[500, 500]),
    ]
    b = [dict(r) for r in a[:2]] + [dict(id="3/0", flag="converged", energy_per_atom=-1.0, n_steps=[0, 1])]
    b[1]["energy_per_atom"] = -3.1000005
    out = compare_records(a, b)
    assert (out["common"], out["identical"], out["differ"], out["flags_differ"], out["steps_differ"]) == (2, 1, 1, 0, 0)
    assert abs(out["max_abs_dE_eV_per_atom"] - 5e-7) < 1e-12
