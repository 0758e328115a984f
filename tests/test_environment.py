"""environment.yml and requirements.txt pin the same versions; the README's commands exist."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pins(name: str) -> dict[str, str]:
    """{package (lower case): version} of the `==` pins of a requirements file or environment.yml."""
    lines = (line.strip().lstrip("- ") for line in (REPO / name).read_text().splitlines())
    return {
        a.strip().lower(): b.strip()
        for a, _, b in (line.partition("==") for line in lines)
        if b and not a.startswith("#")
    }


def test_environment_matches_requirements():
    req = _pins("requirements.txt")
    env = _pins("environment.yml")
    lock = _pins("requirements-lock.txt")
    assert req == env
    assert req["torch"] == "2.13.0"
    for name, version in req.items():
        assert lock.get(name) == version, name


def test_ci_calls_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "bash tests/run.sh" in readme and "bash run_all.sh" in readme
    assert "bash tests/run.sh" in (REPO / ".ci" / "run").read_text()


def test_ipywidgets_pinned_with_its_dependencies():
    """tqdm.auto needs ipywidgets in a notebook kernel, else it warns 'IProgress not found' and prints text bars."""
    req = _pins("requirements.txt")
    lock = _pins("requirements-lock.txt")
    assert "ipywidgets" in req
    assert {"ipywidgets", "widgetsnbextension", "jupyterlab_widgets"} <= set(lock)


def test_tqdm_auto_gives_a_widget_bar_in_a_kernel():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from tqdm.auto import tqdm\nfrom tqdm.notebook import tqdm_notebook\n"
            "for _ in tqdm(range(3)): pass\nprint(issubclass(tqdm, tqdm_notebook))"
        )
    ]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert "IProgress not found" not in text and text.strip() == "True", text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_pyproject_dependencies_match_requirements():
    """pyproject.toml declares the direct dependencies of requirements.txt; every pin lies in its declared range."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project.get("optional-dependencies", {}).values() for r in extra]
    req = _pins("requirements.txt")
    assert sorted(r.name.lower() for r in declared) == sorted(req)
    for r in declared:
        assert r.specifier.contains(req[r.name.lower()]), (r, req[r.name.lower()])


def test_ruff_pinned_everywhere_and_run_by_ci():
    """One ruff version: requirements.txt, the pyproject dev extra, the pre-commit hooks; tests/run.sh lints."""
    import re
    import tomllib

    version = _pins("requirements.txt")["ruff"]
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert f"ruff=={version}" in dev
    hooks = (REPO / ".pre-commit-config.yaml").read_text()
    assert re.findall(r"ruff==(\S+?)[,;)\s]", hooks) == [version]
    assert "entry: ruff check" in hooks and "entry: ruff format" in hooks
    commands = [line for line in (REPO / "tests" / "run.sh").read_text().splitlines() if not line.startswith("#")]
    lint = commands.index(".venv/bin/ruff check wylib tests studies tools bench")
    assert lint < next(i for i, line in enumerate(commands) if "-m pytest" in line)
