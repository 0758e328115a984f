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
    (tmp_path / "README.md").write_text(f"# title\n\n{START}\nold\n{END}\n\nrest\n")
    with pytest.raises(SystemExit, match="run.json not found"):
        main(["--root", str(tmp_path)])
    machine = dict(cpu="Test CPU", cores=2, torch="2.13.0", torch_cpu_capability="AVX512")
    stage = dict(seconds=60.0, peak_rss_mib=100, finished="2026-12-07 15:00:00", machine=machine)
    stages = {"01_tokenization": stage, "04_generation": dict(stage, parameters=dict(trials=6, n_relax=200))}
    (tmp_path / "notebooks" / "paper").mkdir(parents=True)
    (tmp_path / "notebooks" / "paper" / "run.json").write_text(json.dumps({"stages": stages}))
    main(["--root", str(tmp_path)])
    readme = (tmp_path / "README.md").read_text()
    assert "old" not in readme and readme.endswith("rest\n") and "2026-12-07 on\nTest CPU" in readme
    t = pd.read_csv(REPO / "results" / "paper" / "table1.csv").set_index("row").loc["WyckoffTransformer (this repo)"]
    ours = next(line for line in readme.splitlines() if line.startswith("| **WyckoffTransformer, this repo**"))
    sun = f"{t.sun_paper:.1f} [{t.sun_paper_low:.1f}, {t.sun_paper_high:.1f}]"
    assert sun in ours and f"{int(t.n_samples):,} / {int(t.n_structures):,}" in ours
    assert "their hull and protocol" in readme
    page = (tmp_path / "docs" / "results.md").read_text()
    assert (REPO / "results" / "paper" / "table1.md").read_text().strip() in page and "| total | 2.0 |" in page
