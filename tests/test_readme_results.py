"""scripts/update_readme_results.py: the README's results subsections come from the committed result files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from update_readme_results import own_training_data  # noqa: E402


def test_own_training_data_subsection_carries_both_tables_of_sun_unseen(tmp_path):
    text = own_training_data(REPO / "results")
    assert text.startswith("### Novelty against each model's own training data")
    assert "**1. Does recall scale" in text and "**2. S.U.N. with the unseen split" in text
    source = (REPO / "results" / "sun_unseen.md").read_text()
    rows = [line for line in source.splitlines() if line.startswith("| (c) authors' genes, this repo's protocol")]
    assert rows and all(row in text for row in rows)  # the tables verbatim, not retyped
    assert "Host `" in text and "Command" not in text.split("\n\n")[1]  # provenance without the dangling "Command:"
    assert own_training_data(tmp_path) == ""  # no sun_unseen.md: no subsection
    shutil.copy(REPO / "results" / "sun_unseen.md", tmp_path / "sun_unseen.md")
    assert own_training_data(tmp_path) == text
