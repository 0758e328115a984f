"""Notebooks refuse parameters they do not declare or of the wrong kind (wylib.notebook), under papermill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wylib.notebook import NOT_A_LITERAL, assigned_names, declared_defaults, parameter_errors, unknown_parameters

REPO = Path(__file__).resolve().parent.parent


def test_assigned_names():
    assert assigned_names("# parameters\na = 1\nb: int = 2\nc, d = 3, 4\nx += 1\nprint(a)\n") == {
        "a",
        "b",
        "c",
        "d",
        "x",
    }
    assert assigned_names("def broken(:") == set()


def test_unknown_parameters_from_the_cell_history():
    cells = ["", "# parameters\ntemperature = 1.0\nseed = 0\n", "# Parameters\ntemprature = 0.5\nseed = 1\n", "x = 2"]
    assert unknown_parameters(cells) == ["temprature"]
    assert unknown_parameters(cells[:2] + ["# Parameters\nseed = 1\n"]) == []
    assert unknown_parameters(["# Parameters\na = 1"]) == []  # no parameters cell: nothing to check


PARAMS = """# parameters
run_dir = None
n_relax = 100
fmax = 0.05
workers = "auto"
authors_genes = True
device = "auto"
out_dir = "output/" + "x"
"""


def test_declared_defaults_and_value_errors():
    d = declared_defaults(PARAMS)
    assert d["n_relax"] == 100 and d["fmax"] == 0.05 and d["run_dir"] is None and d["out_dir"] is NOT_A_LITERAL
    assert parameter_errors({"n_relax": 4, "fmax": 1, "workers": 2, "run_dir": "runs/x", "out_dir": 3}, PARAMS) == []
    errors = parameter_errors(
        {"n_relax": "ten", "fmax": "abc", "authors_genes": 1, "temprature": 0.5, "n_relax_": 1}, PARAMS
    )
    assert errors[:2] == ["unknown parameter 'n_relax_'", "unknown parameter 'temprature'"]
    assert "n_relax='ten': expected a int like its default 100" in errors
    assert "fmax='abc': expected a float like its default 0.05" in errors
    assert "authors_genes=1: expected a bool like its default True" in errors
    assert parameter_errors({"fmax": float("nan")}, PARAMS) == ["fmax=nan: expected a float like its default 0.05"]
    assert parameter_errors({"n_relax": True}, PARAMS)  # a bool is not a count


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only machine's error")
def test_device_parameter_is_checked_against_the_machine():
    (err,) = parameter_errors({"device": "cuda"}, PARAMS)
    assert "device='cuda': CUDA is not available" in err


def test_every_numbered_notebook_calls_the_guard_right_after_its_parameters():
    for nb in sorted((REPO / "notebooks").glob("0*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        i = next(k for k, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
        assert "check_parameters()" in "".join(cells[i + 1]["source"]), nb.name


@pytest.mark.slow
def test_papermill_run_with_a_misspelled_parameter_fails(tmp_path):
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    p = nbformat.v4.new_code_cell("# parameters\ntemperature = 1.0\n")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [
        p,
        nbformat.v4.new_code_cell(
            "from wylib.notebook import check_parameters\ncheck_parameters()\nprint('ran with', temperature)"
        ),
    ]
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    papermill.execute_notebook(
        str(src),
        str(tmp_path / "ok.ipynb"),
        parameters={"temperature": 0.5},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO),
    )
    for params, says in [
        ({"temprature": 0.5}, "unknown notebook parameter.*temprature"),
        ({"temperature": "hot"}, "temperature='hot': expected a float"),
    ]:
        with pytest.raises(papermill.PapermillExecutionError, match=says):
            papermill.execute_notebook(
                str(src),
                str(tmp_path / "bad.ipynb"),
                parameters=params,
                kernel_name="python3",
                progress_bar=False,
                cwd=str(REPO),
            )


@pytest.mark.parametrize("notebook", sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_papermill_reads_every_parameter_and_every_cell_has_an_id(notebook):
    """A comment papermill cannot parse (quotes, '=') hid `model_preset` of notebook 02 from `inspect_notebook`, so a
    profile could not set it and papermill warned 'unknown parameter'; nbformat warns about cells without ids."""
    import papermill

    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert assigned_names("".join(cell["source"])) <= set(papermill.inspect_notebook(str(notebook)))
    assert all("id" in c for c in nb["cells"])
