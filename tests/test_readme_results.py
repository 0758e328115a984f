"""tools/update_readme.py: the README's results subsections come from the committed result files."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.update_readme import own_training_data

REPO = Path(__file__).resolve().parent.parent


def test_own_training_data_subsection_carries_both_tables_of_sun_unseen(tmp_path):
    text = own_training_data(REPO / "studies" / "yardstick" / "results")
    assert text.startswith("### Novelty against each model's own training data")
    assert "**1. Does recall scale" in text and "**2. S.U.N. with the unseen split" in text
    source = (REPO / "studies" / "yardstick" / "results" / "sun_unseen.md").read_text()
    rows = [line for line in source.splitlines() if line.startswith("| (c) authors' genes, this repo's protocol")]
    assert rows and all(row in text for row in rows)  # the tables verbatim, not retyped
    assert "Host `" in text and "Command" not in text.split("\n\n")[1]  # provenance without the dangling "Command:"
    assert own_training_data(tmp_path) == ""  # no sun_unseen.md: no subsection
    shutil.copy(REPO / "studies" / "yardstick" / "results" / "sun_unseen.md", tmp_path / "sun_unseen.md")
    assert own_training_data(tmp_path) == text
