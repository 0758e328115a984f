"""`python -m wylib generate | tokenize | train` (wylib.cli) on tiny settings: CIFs and a table, own data, bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Composition, Structure

from wylib.cli import main

from tiny import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parent.parent


def _table(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out / "candidates.csv")
    assert (out / "candidates.md").read_text().startswith("| ")
    return df


def test_generate_writes_cifs_and_a_table(tmp_path, capsys):
    out = tmp_path / "nacl"
    args = ["generate", "--composition", "NaCl", "--spacegroup", "225,221", "--z", "4", "--n", "3", "--out", str(out)]
    assert main(args) == 0
    assert "3 candidates" in capsys.readouterr().out
    df = _table(out)
    assert len(df) == 3 and set(df["spacegroup"]) <= {225, 221} and set(df["formula"]) == {"NaCl"}
    assert df["energy_per_atom"].isna().all() and df["e_hull"].isna().all() and set(df["hull_flag"]) == {"no_energy"}
    for cif in df["cif"]:
        s = Structure.from_file(out / cif)
        assert s.composition.reduced_composition == Composition("NaCl")
    assert json.loads((out / "target.json").read_text())["target"]["formula_units"] == [4]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--elements", "Li,Xx"], "unknown element 'Xx'"),
        (["--composition", "NaCl", "--spacegroup", "230", "--max-atoms", "20"], "no space group can hold the target"),
        (["--composition", "Li40Mn13O97"], "150 atoms per formula unit, more than the default cap of 32"),
        (["--composition", "NaCl", "--max-sites", "30"], "the model holds at most 20 sites"),
        (["--elements", "He,O"], "He not in the model's vocabulary"),
        (["--run", "no/such/run", "--elements", "Li"], "no run directory no/such/run"),
    ],
)
def test_bad_targets_get_one_line_and_exit_code_2(tmp_path, capsys, extra, message):
    assert main(["generate", *extra, "--n", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("python -m wylib generate: error:")


def test_module_entry_point_and_argument_errors(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "wylib", "generate", "--n", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert r.returncode == 2 and "argument --n: expected an integer >= 1, not '0'" in r.stderr


def test_own_data_tokenize_train_generate(tmp_path, test_split_head, capsys):
    csv_dir = tmp_path / "mydata"
    csv_dir.mkdir()
    head = test_split_head.iloc[:30][["material_id", "cif"]]
    for split, rows in (("train", head.iloc[:20]), ("val", head.iloc[20:26]), ("test", head.iloc[26:])):
        rows.to_csv(csv_dir / f"{split}.csv", index=False)
    assert main(["tokenize", "--csv", str(csv_dir / "train.csv"), "--out", str(tmp_path / "tok"), "--n-jobs", "1"]) == 0
    with gzip.open(tmp_path / "tok" / "train.tokens.json.gz", "rt") as f:
        assert len(json.load(f)["ok"]) >= 18
    run = tmp_path / "run"
    assert main(["train", "--csv-dir", str(csv_dir), "--out", str(run), "--max-epochs", "1", "--n-jobs", "1"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["csv_dir"] == str(csv_dir.resolve()) and sum(config["spacegroup_counts"]) >= 20
    out = tmp_path / "gen"
    assert main(["generate", "--run", str(run), "--n", "3", "--max-sites", "3", "--out", str(out)]) == 0
    assert "3 candidates" in capsys.readouterr().out and len(_table(out)) == 3
    (csv_dir / "val.csv").unlink()
    assert main(["train", "--csv-dir", str(csv_dir), "--out", str(tmp_path / "run2")]) == 2
    assert "needs train.csv and val.csv" in capsys.readouterr().err
    (csv_dir / "bad.csv").write_text("id,structure\n1,x\n")
    assert main(["tokenize", "--csv", str(csv_dir / "bad.csv"), "--out", str(tmp_path / "tok")]) == 2
    assert "has no column 'material_id', 'cif'" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_with_relax(tmp_path):
    out = tmp_path / "relaxed"
    target = ["--composition", "NaCl", "--spacegroup", "225", "--z", "4"]  # 4a + 4b: pyXtal builds it at once
    args = ["generate", *target, "--n", "2", "--relax", "--trials", "1", "--steps", "5", "--out", str(out)]
    assert main(args) == 0
    df = _table(out)
    assert len(df) == 2 and df["energy_per_atom"].notna().all()
    assert set(df["hull_flag"]) <= {"ok", "hull_lacks_binaries"} and df["e_hull"].notna().all()
