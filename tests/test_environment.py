"""environment.yml and requirements.txt pin the same versions; the README's commands exist."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pins(lines):
    return {l.split("==")[0].strip().lower(): l.split("==")[1].strip() for l in lines if "==" in l}


def test_environment_matches_requirements():
    req = _pins(l for l in (REPO / "requirements.txt").read_text().splitlines() if not l.startswith("#"))
    env = _pins(l.strip().lstrip("- ") for l in (REPO / "environment.yml").read_text().splitlines() if not l.strip().startswith("#"))
    lock = _pins(l for l in (REPO / "requirements-lock.txt").read_text().splitlines() if not l.startswith("#"))
    assert req == env
    assert req["torch"] == "2.13.0"
    for name, version in req.items():
        assert lock.get(name) == version, name


def test_ci_calls_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "bash tests/run.sh" in readme and "bash run_all.sh" in readme
    assert "bash tests/run.sh" in (REPO / ".ci" / "run").read_text()
