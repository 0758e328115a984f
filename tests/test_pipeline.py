"""run_all.sh end to end in the smoke profile, and kill-and-resume (issue 7)."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED_NOTEBOOKS = [
    "01_tokenization",
    "02_training",
    "03_permutation_invariance",
    "04_generation",
    "05_evaluation",
    "06_figures",
    "07_targeted_generation",
]


def _run_all(out: Path, timeout: int = 2400) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "run_all.sh", "--profile", "smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _check_table1(results: Path) -> None:
    """Issue 32 on the chain's own tables: every published interval holds its estimate, the seed row and the
    seed and equal-size tables exist (smoke: 2 sampling seeds)."""
    import pandas as pd

    from wylib.evaluate import METRICS

    t = pd.read_csv(results / "table1.csv")
    for _, row in t.iterrows():
        for k, _, _ in METRICS:
            if pd.notna(row[f"{k}_low"]):
                assert row[f"{k}_low"] <= row[k] <= row[f"{k}_high"], (row["row"], k)
    assert "seeds" in set(t["source"])
    seeds = pd.read_csv(results / "table1_seeds.csv")
    assert {"seed 0", "seed 1", "mean", "sd"} <= set(seeds.columns)
    assert (results / "table1_equal_size.md").exists()
    assert "construction: ours; authors' model" in (results / "table1.md").read_text()


def test_published_paper_table1_holds_its_estimates_and_seed_means():
    """Issue 32 on the committed paper run: centered intervals, a seeds row and the seed and equal-size tables."""
    results = REPO / "results" / "paper"
    _check_table1(results)
    import pandas as pd

    seeds = pd.read_csv(results / "table1_seeds.csv")
    assert sum(c.startswith("seed ") for c in seeds.columns) == 5  # the paper profile's n_sampling_seeds
    run = json.loads((REPO / "notebooks" / "paper" / "run.json").read_text())
    assert set(run["stages"]) == set(EXPECTED_NOTEBOOKS)  # every published notebook came from this run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    result = _run_all(out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out, result.stdout


@pytest.mark.slow
def test_smoke_profile_runs_every_notebook(smoke_run):
    out, stdout = smoke_run
    present = [p.stem for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    for name in present:
        assert (out / "notebooks" / f"{name}.ipynb").exists(), name
        marker = json.loads((out / "notebooks" / f"{name}.done.json").read_text())
        assert marker["peak_rss_mib"] > 100, (name, marker)  # a kernel with torch imported, at least
        assert marker["peak_rss_mib"] < 8 * 1024, (name, marker)  # the project's limit per stage
    assert (out / "tokens" / "train.jsonl.gz").exists()
    figures = list((out / "figures").glob("*.png"))
    assert figures and all((f.with_suffix(".pdf")).exists() for f in figures)
    if "05_evaluation" in present:
        assert (out / "results" / "table1.csv").exists() and (out / "results" / "table1.md").exists()
        assert "Table 1" in stdout
        _check_table1(out / "results")
    assert present == EXPECTED_NOTEBOOKS[: len(present)]


@pytest.mark.slow
def test_rerun_skips_complete_notebooks(smoke_run):
    out, _ = smoke_run
    result = _run_all(out, timeout=600)
    assert result.returncode == 0
    n_notebooks = len(list((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert result.stdout.count("complete for these parameters, skipped") == n_notebooks


@pytest.mark.slow
def test_kill_and_resume_continues_from_cut_notebook(smoke_run, tmp_path):
    out, _ = smoke_run
    notebooks = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if len(notebooks) < 2:
        pytest.skip("needs two notebooks")
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    cut = notebooks[1]
    for name in notebooks[1:]:  # pretend everything from the second notebook on never finished
        (resumed / "notebooks" / f"{name}.done.json").unlink()
        (resumed / "notebooks" / f"{name}.ipynb").unlink(missing_ok=True)
    proc = subprocess.Popen(
        ["bash", "run_all.sh", "--profile", "smoke", "--out", str(resumed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while not (resumed / "notebooks" / f"{cut}.ipynb").exists() and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)  # killed while the second notebook runs
    proc.wait()
    assert not (resumed / "notebooks" / f"{cut}.done.json").exists()
    result = _run_all(resumed)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{notebooks[0]}.ipynb: complete for these parameters, skipped" in result.stdout
    assert f"{cut}.ipynb: running" in result.stdout
    assert (resumed / "notebooks" / f"{cut}.done.json").exists()


def test_help_explains_profiles():
    result = subprocess.run(["bash", "run_all.sh", "--help"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "smoke" in result.stdout and "paper" in result.stdout and "full" in result.stdout


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    """A failing notebook stops the run with the notebook and the cell."""
    import nbformat

    from wylib import pipeline

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("out_dir = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('boom')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / "01_fails.ipynb")
    (nbdir / "profiles.yml").write_text("t:\n  shared: {}\n")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", nbdir)
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = pipeline.run("t", tmp_path / "out")
    assert code == 1
    assert "FAILED in 01_fails.ipynb, cell" in buf.getvalue() and "boom" in buf.getvalue()


def test_mp_20_profile_validates_for_every_notebook(tmp_path, monkeypatch):
    """The full MP-20 profile: every notebook accepts its parameters and gets dataset mp_20; no publish; out dir
    output/mp_20 (nothing is executed or downloaded)."""
    from wylib import data, pipeline

    profile = pipeline.load_profile("mp_20")
    assert profile["publish"] is False
    notebooks = pipeline.notebook_paths()
    assert [p.stem for p in notebooks] == EXPECTED_NOTEBOOKS
    for notebook in notebooks:
        params = pipeline.profile_parameters(notebook, profile, tmp_path / "mp_20")
        assert params["dataset"] == "mp_20" and params["out_dir"] == str(tmp_path / "mp_20"), notebook.name
    assert all(data.REGISTRY["mp_20"][s].url for s in ("train", "val", "test"))  # downloadable when online
    calls = []
    monkeypatch.setattr(pipeline, "run", lambda name, out, only, force: calls.append((name, out)) or 0)
    assert pipeline.main(["--profile", "mp_20"]) == 0 and calls == [("mp_20", Path("output/mp_20"))]


@pytest.mark.parametrize("only", [["08"], ["01", "7"], ["1"]])
def test_unknown_notebook_numbers_are_an_error(tmp_path, only):
    """`--only 07` used to exit 0 having run nothing."""
    from wylib import pipeline

    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=r"unknown notebook number.*known: 01, 02, 03, 04, 05, 06, 07") as err:
        pipeline.main(["--profile", "smoke", "--out", str(out), "--only", *only])
    assert ", ".join(sorted(set(only) - {"01"})) in str(err.value)
    assert not out.exists()  # nothing started


def test_only_runs_the_selected_notebooks(tmp_path, monkeypatch, capsys):
    """Known numbers pass the check and select their notebooks (execution replaced by a stub)."""
    import papermill

    from wylib import pipeline

    ran = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: ran.append(Path(src).stem))
    assert pipeline.main(["--profile", "smoke", "--out", str(tmp_path / "out"), "--only", "02", "01"]) == 0
    assert ran == ["01_tokenization", "02_training"]
    # 04 in a fresh out dir needs 03 (and 01-02 are complete now): a clear error before anything runs
    with pytest.raises(SystemExit, match="04_generation.ipynb reads the outputs of 03_permutation_invariance"):
        pipeline.main(["--profile", "smoke", "--out", str(tmp_path / "out"), "--only", "04"])
    assert ran == ["01_tokenization", "02_training"]
    assert pipeline.main(["--profile", "smoke", "--out", str(tmp_path / "out"), "--only", "03", "04"]) == 0
    with pytest.raises(SystemExit):  # `--only` without numbers is an argparse error, not "everything"
        pipeline.main(["--profile", "smoke", "--out", str(tmp_path / "out"), "--only"])


@pytest.mark.parametrize(
    "profile, says",
    [
        ({"shared": {"max_structure": 40}}, "shared parameter 'max_structure' is declared by no notebook"),
        ({"shared": {"seed": 0}, "04": {"n_relax": "ten"}}, "04_generation.ipynb: n_relax='ten': expected a int"),
        ({"shared": {"n_jobs": 2.5}}, "01_tokenization.ipynb: n_jobs=2.5"),
        ({"publsh": True, "shared": {}}, "unknown key 'publsh'"),
        ({"shared": {}, "04": {"temprature": 0.5}}, "unknown parameter 'temprature'"),
    ],
)
def test_profiles_are_checked_before_anything_runs(tmp_path, monkeypatch, profile, says):
    """A typo in `shared` used to be dropped silently (and notebook 01 ran on the whole splits)."""
    import papermill

    from wylib import pipeline

    monkeypatch.setattr(pipeline, "load_profile", lambda name: profile)
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    with pytest.raises(SystemExit, match=says):
        pipeline.run("t", tmp_path / "out")


def test_committed_profiles_pass_the_check():
    from wylib import pipeline

    for name in ("smoke", "paper", "full", "mp_20"):
        pipeline.check_profile(name, pipeline.load_profile(name), pipeline.notebook_paths())


def _fake_run(out: Path, notebooks: dict[str, int]) -> None:
    """An out dir as a finished run leaves it: tables, figures, executed notebooks of the given sizes (bytes) with
    their markers, and one executed notebook without a marker (cut off)."""
    (out / "results").mkdir(parents=True)
    (out / "figures").mkdir()
    (out / "notebooks").mkdir()
    (out / "results" / "table1.csv").write_text("row,validity\nours,99\n")
    (out / "results" / "table1.md").write_text("| row |\n")
    (out / "figures" / "fig4_spacegroups.png").write_bytes(b"png")
    for i, (name, size) in enumerate(notebooks.items()):
        (out / "notebooks" / f"{name}.ipynb").write_bytes(b"x" * size)
        marker = dict(fingerprint="f", seconds=60.0 * (i + 1), peak_rss_mib=500 + i, finished=f"2026-12-07 10:0{i}:00")
        marker.update(host="vm", machine={"cpu": "AMD EPYC", "cores": 2}, parameters={"seed": 0})
        (out / "notebooks" / f"{name}.done.json").write_text(json.dumps(marker))
    (out / "notebooks" / "03_cut.ipynb").write_text("{}")  # no marker: not finished, not published


def test_publish_copies_tables_figures_notebooks_and_summarises_the_markers(tmp_path, capsys):
    from wylib import pipeline

    out, dest = tmp_path / "out", tmp_path / "repo"
    _fake_run(out, {"01_tokenization": 1000, "02_training": 2000})
    (dest / "results" / "paper").mkdir(parents=True)
    (dest / "results" / "paper" / "old_table.csv").write_text("kept\n")  # not written by this run: named, kept
    pipeline.publish(out, "paper", dest=dest)
    assert sorted(p.name for p in (dest / "results" / "paper").iterdir()) == [
        "old_table.csv",
        "table1.csv",
        "table1.md",
    ]
    assert (dest / "figures" / "paper" / "fig4_spacegroups.png").read_bytes() == b"png"
    published = sorted(p.name for p in (dest / "notebooks" / "paper").iterdir())
    assert published == ["01_tokenization.ipynb", "02_training.ipynb", "run.json"]  # no markers, no cut notebook
    summary = json.loads((dest / "notebooks" / "paper" / "run.json").read_text())
    assert summary["profile"] == "paper" and list(summary["stages"]) == ["01_tokenization", "02_training"]
    stage = summary["stages"]["02_training"]
    assert stage["seconds"] == 120.0 and stage["peak_rss_mib"] == 501 and stage["finished"] == "2026-12-07 10:01:00"
    assert stage["machine"]["cpu"] == "AMD EPYC" and stage["host"] == "vm"
    assert "old_table.csv" in capsys.readouterr().out


def test_publish_refuses_a_notebook_over_2_mb(tmp_path):
    from wylib import pipeline

    out, dest = tmp_path / "out", tmp_path / "repo"
    _fake_run(out, {"01_tokenization": 1000, "04_generation": pipeline.MAX_NOTEBOOK_BYTES + 1})
    with pytest.raises(SystemExit, match=r"over 2 MB: 04_generation.ipynb \(2.0 MB\)"):
        pipeline.publish(out, "paper", dest=dest)
    assert not dest.exists()  # nothing copied


def _one_notebook_profile(tmp_path: Path, publish: bool) -> Path:
    import nbformat

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("out_dir = 'x'\nseed = 0", metadata={"tags": ["parameters"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / "01_only.ipynb")
    (nbdir / "profiles.yml").write_text(f"t:\n  publish: {str(publish).lower()}\n  shared: {{seed: 3}}\n")
    return nbdir


@pytest.mark.parametrize("publish", [True, False])
def test_run_publishes_only_profiles_that_say_so(tmp_path, monkeypatch, publish):
    """`publish: true` profiles publish under their own name; the markers come from `execute` (papermill stubbed)."""
    import papermill

    from wylib import pipeline

    monkeypatch.setattr(pipeline, "NOTEBOOKS", _one_notebook_profile(tmp_path, publish))
    calls, published = [], []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: calls.append(kw["parameters"]))
    monkeypatch.setattr(pipeline, "publish", lambda out, name: published.append((out, name)))
    out = tmp_path / "out"
    assert pipeline.run("t", out) == 0
    assert calls == [{"out_dir": str(out), "seed": 3}]
    marker = json.loads((out / "notebooks" / "01_only.done.json").read_text())
    assert marker["parameters"] == calls[0] and {"seconds", "peak_rss_mib", "machine", "finished"} <= set(marker)
    assert published == ([(out, "t")] if publish else [])
    assert pipeline.run("t", out) == 0 and len(calls) == 1  # complete: skipped, not executed again


def test_long_profiles_say_what_to_expect_before_they_start(tmp_path, monkeypatch, capsys):
    import papermill

    from wylib import pipeline

    monkeypatch.setattr(pipeline, "load_profile", lambda name: {"expect": "takes 3 h here", "shared": {}})
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: None)
    pipeline.run("t", tmp_path / "out", only=["01"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("[run_all] profile t takes 3 h here; this machine: ") and "gpu_check" in first
