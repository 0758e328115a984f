"""Notebooks refuse parameters they do not declare (wylib.notebook), under papermill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wylib.notebook import assigned_names, unknown_parameters

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


def test_every_numbered_notebook_calls_the_guard_right_after_its_parameters():
    for nb in sorted((REPO / "notebooks").glob("0*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        i = next(k for k, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
        assert "refuse_unknown_parameters()" in "".join(cells[i + 1]["source"]), nb.name


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
            "from wylib.notebook import refuse_unknown_parameters\n"
            "refuse_unknown_parameters()\nprint('ran with', temperature)"
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
    with pytest.raises(papermill.PapermillExecutionError, match="unknown notebook parameter.*temprature"):
        papermill.execute_notebook(
            str(src),
            str(tmp_path / "bad.ipynb"),
            parameters={"temprature": 0.5},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(REPO),
        )
