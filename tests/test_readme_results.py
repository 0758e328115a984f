"""The README is a front page: short, its headline table generated from the paper run, every relative link valid."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tools.update_readme import END, START, main

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def relative_links(markdown: Path) -> list[str]:
    return [t for t in LINK.findall(markdown.read_text()) if not re.match(r"[a-z]+:", t)]


def test_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    head = "\n".join(lines[:60])
    assert START in head and END in head and "| **WyckoffTransformer, this repo**" in head and "![" in head


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md", "docs/usage.md", "docs/results.md"])
def test_relative_links_resolve(doc):
    path = REPO / doc
    missing = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not missing, f"{doc}: links to missing files {missing}"


def test_headline_and_results_page_come_from_the_published_files(tmp_path):
    for sub in ("results/paper", "figures/paper"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    (tmp_path / "docs").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "profiles.yml", tmp_path / "notebooks")
    (tmp_path / "README.md").write_text(f"# title\n\n{START}\nold\n{END}\n\nrest\n")
    main(["--root", str(tmp_path)])  # tables published before run.json existed: host and date from the tables
    kl = json.loads((REPO / "results" / "paper" / "permutation_kl.json").read_text())
    readme = " ".join((tmp_path / "README.md").read_text().split())  # the caption is wrapped
    assert f"run {kl['date'][:10]} on host `{kl['host']}`" in readme and "were not published" in readme
    assert "Not published with these tables" in (tmp_path / "docs" / "results.md").read_text()
    kl_file = tmp_path / "results" / "paper" / "permutation_kl.json"
    kl_file.rename(tmp_path / "kl.json")
    with pytest.raises(SystemExit, match="publish a paper run first"):
        main(["--root", str(tmp_path)])
    (tmp_path / "kl.json").rename(kl_file)
    machine = dict(cpu="Test CPU", cores=2, torch="2.13.0", torch_cpu_capability="AVX512")
    stage = dict(seconds=60.0, peak_rss_mib=100, finished="2026-12-07 15:00:00", machine=machine)
    stages = {"01_tokenization": stage, "04_generation": dict(stage, parameters=dict(trials=6, n_relax=200))}
    (tmp_path / "notebooks" / "paper").mkdir()
    (tmp_path / "notebooks" / "paper" / "run.json").write_text(json.dumps({"stages": stages}))
    main(["--root", str(tmp_path)])
    readme = (tmp_path / "README.md").read_text()
    flat = " ".join(readme.split())
    assert "old" not in readme and readme.endswith("rest\n") and "run 2026-12-07 on Test CPU, 2 cores" in flat
    assert "[`notebooks/paper/`](notebooks/paper)" in readme
    t = pd.read_csv(REPO / "results" / "paper" / "table1.csv").set_index("row").loc["WyckoffTransformer (this repo)"]
    ours = next(line for line in readme.splitlines() if line.startswith("| **WyckoffTransformer, this repo**"))
    sun = f"{t.sun_paper:.1f} [{t.sun_paper_low:.1f}, {t.sun_paper_high:.1f}]"
    assert sun in ours and f"{int(t.n_samples):,} / {int(t.n_structures):,}" in ours
    assert "their hull and protocol" in readme
    page = (tmp_path / "docs" / "results.md").read_text()
    assert (REPO / "results" / "paper" / "table1.md").read_text().strip() in page and "| total | 2.0 |" in page


@pytest.mark.slow
def test_readme_api_example_runs_as_written(tmp_path, monkeypatch):
    """The README's code block, verbatim, in a scratch directory that sees the committed model."""
    text = (REPO / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "runs").symlink_to(REPO / "runs")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    table = namespace["table"]
    assert len(table) == 2 and set(table["flag"]) <= {"converged", "not_converged"}
    assert str(namespace["WyckoffRepresentation"].from_structure(namespace["nacl"])).startswith("Fm-3m (225)")
    target = namespace["Target"].parse(composition="Li2MnO3", max_atoms=24)
    assert all(not target.violations(r.spacegroup, r) for r in namespace["li2mno3"].representations)
