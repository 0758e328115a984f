"""tools/compare_runs.py: a rerun's Table 1 against the committed one, metric by metric."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tools.compare_relax_records import compare_records, main as relax_main
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
    (tmp_path / "rerun.csv").write_text(shifted.to_csv(index=False))
    args = [str(REPO / "results" / "paper" / "table1.csv"), str(tmp_path / "rerun.csv")]
    args += ["--name", "cmp", "--results-dir", str(tmp_path)]
    assert main(args) == 0  # every value present: a comparison, whatever its values
    assert main(args + ["--expect", "inside"]) == 1 and main(args + ["--expect", "identical"]) == 1
    assert main([args[0], args[0], "--results-dir", str(tmp_path), "--expect", "identical"]) == 0
    assert main(args + ["--expect", "same-values"]) == 1
    widened = ref.copy()  # the same point values, another interval method
    widened.loc[ours, "sun_paper_low"] -= 1.0
    (tmp_path / "widened.csv").write_text(widened.to_csv(index=False))
    w_args = [args[0], str(tmp_path / "widened.csv"), "--results-dir", str(tmp_path)]
    assert main(w_args + ["--expect", "same-values"]) == 0 and main(w_args + ["--expect", "identical"]) == 1
    relabelled = ref.assign(row=ref.row.where(ref.source != "published", ref.row + " (relabelled)"))
    (tmp_path / "relabelled.csv").write_text(relabelled.to_csv(index=False))
    assert main([args[0], str(tmp_path / "relabelled.csv"), "--results-dir", str(tmp_path)]) == 0  # no run output
    shifted = shifted[shifted.row != "Marginal baseline (no learning)"]  # a row the rerun lacks fails
    (tmp_path / "rerun.csv").write_text(shifted.to_csv(index=False))
    assert main(args) == 1
    assert "**The rerun lacks" in (tmp_path / "cmp.md").read_text()
    table = compare_tables(ref, shifted)
    bad = table[~table.inside]
    assert list(zip(bad.row, bad.metric, strict=True)) == [("WyckoffTransformer (this repo)", "sun_paper")]
    changed = table[~table.identical]
    assert list(zip(changed.row, changed.metric, strict=True)) == [("WyckoffTransformer (this repo)", "sun_paper")]
    assert "Marginal baseline (no learning)" not in set(table.row)
    md = (tmp_path / "cmp.md").read_text()
    assert f"{len(table) - 1} of {len(table)} rerun values lie inside" in md and "**no**" in md
    assert f"{len(table) - 1} of {len(table)} are identical" in md
    assert "row 'Marginal baseline (no learning)'" in md


def test_compare_runs_refuses_missing_empty_and_partial_inputs(tmp_path):
    ref = REPO / "results" / "paper" / "table1.csv"
    for bad, says in [(tmp_path / "nope.csv", "no such file"), (tmp_path / "empty.csv", "empty file")]:
        if bad.name == "empty.csv":
            bad.write_text("")
        with pytest.raises(SystemExit, match=says) as err:
            main([str(ref), str(bad), "--results-dir", str(tmp_path)])
        assert str(bad) in str(err.value)
    lacking = pd.read_csv(ref)
    lacking.loc[lacking.row == "WyckoffTransformer (this repo)", "dof_ks"] = float("nan")
    (tmp_path / "nan.csv").write_text(lacking.to_csv(index=False))
    assert main([str(ref), str(tmp_path / "nan.csv"), "--results-dir", str(tmp_path)]) == 1
    assert "'WyckoffTransformer (this repo)' dof_ks" in (tmp_path / "run_comparison.md").read_text()


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


def test_compare_relax_records_ignores_the_retired_null_screen_energy():
    """Records of 0e4900e and earlier carry screen_energy: null; today's records have no such field."""
    new = [dict(id="1/0", flag="converged", energy_per_atom=-3.0, n_steps=[2, 5], input_key="k")]
    old = [{**new[0], "screen_energy": None}]
    assert compare_records(old, new)["identical"] == 1
    assert compare_records([{**new[0], "screen_energy": -2.9}], new)["identical"] == 0  # a screened record differs


def _write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_compare_relax_records_refuses_what_is_not_a_rerun(tmp_path):
    recs = [
        dict(id=f"{i}/0", input_key=f"k{i}", flag="converged", energy_per_atom=-3.0, n_steps=[2, 5]) for i in range(3)
    ]
    a = _write_jsonl(tmp_path / "a.jsonl", recs)
    assert relax_main([a, a]) == 0
    with pytest.raises(SystemExit, match="no such file"):
        relax_main([a, str(tmp_path / "missing.jsonl")])
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SystemExit, match="empty.jsonl: no relaxation records"):
        relax_main([a, str(tmp_path / "empty.jsonl")])
    (tmp_path / "text.jsonl").write_text("energy,flag\n-3,converged\n")
    with pytest.raises(SystemExit, match="text.jsonl, line 1: not JSON"):
        relax_main([str(tmp_path / "text.jsonl"), a])
    other = [dict(r, input_key=r["input_key"] + "-fmax0.1", energy_per_atom=-2.998) for r in recs]  # other protocol
    with pytest.raises(SystemExit, match="another input_key"):
        relax_main([a, _write_jsonl(tmp_path / "b.jsonl", other)])
    assert relax_main([a, _write_jsonl(tmp_path / "c.jsonl", recs[:2])]) == 1  # a record missing in the rerun
