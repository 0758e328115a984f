"""The authors' released samples (wylib.release): loaders, checksums, their charge-neutrality flag."""

from __future__ import annotations

import json

import pytest

from wylib import data, release
from wylib.data import ChecksumError, DataNotFoundError
from wylib.metrics.chemistry import charge_neutral


@pytest.fixture(scope="module")
def genes_all():
    return release.load_genes(None)


def test_genes_load_and_checksums(genes_all):
    assert len(genes_all) == 10000
    expected = data.data_file("wyformer_release", "genes").sha256
    assert data.sha256sum(data.locate("wyformer_release", "genes")) == expected
    assert genes_all["representation"].notna().all()  # released as formally valid; all read under our tables
    first = genes_all.iloc[0]
    assert first["pyxtal_args"] == {
        "group": 71,
        "species": ["In", "Cu", "Dy"],
        "numIons": [12, 12, 2],
        "sites": [["4h", "4j", "4g"], ["4i", "8k"], ["2b"]],
    }
    rep = first["representation"]
    assert rep.spacegroup == 71 and rep.n_sites == 6 and rep.composition.reduced_formula == "Dy(InCu)6"
    assert sorted(s.label for s in rep.sites) == ["2b", "4g", "4h", "4i", "4j", "8k"]


def test_biternary_subset(genes_all):
    bt = release.load_genes()
    assert set(bt["n_elements"]) == {2, 3}
    assert len(bt) == int(genes_all["n_elements"].isin([2, 3]).sum()) == 7484
    assert all(r.n_elements in (2, 3) for r in bt["representation"])


def test_release_smact_validity_reproduced_on_every_row_with_the_paper_list(genes_all):
    """The authors' smact_validity flag is SMACT with the 2014 oxidation states (paper style)."""
    ours = [charge_neutral(r.composition, "smact14") is True for r in genes_all["representation"]]
    assert ours == genes_all["smact_validity"].tolist()
    smact4 = [charge_neutral(r.composition, "smact4") is True for r in genes_all["representation"]]
    agree = sum(a == b for a, b in zip(smact4, genes_all["smact_validity"], strict=True)) / len(genes_all)
    assert 0.85 < agree < 0.97  # SMACT 4's default list disagrees on about 9 % of rows


def test_relaxed_load():
    r = release.load_relaxed(None)
    assert len(r) == 999 and r["structure"].notna().all() and r["reason"].isna().all()
    s = r.iloc[0]
    assert s["structure"].composition.reduced_formula == "Dy(InCu)6"
    assert s["energy_per_atom"] == pytest.approx(-3.6380753846153846)
    assert s["representation"].spacegroup == 71
    assert len(release.load_relaxed()) == 750


def test_gene_samples_are_buildable_inputs():
    s = release.gene_samples(3)
    assert [x["sample_id"] for x in s] == ["authors-0", "authors-4", "authors-5"]  # first 2-3-element genes
    assert all(set(x) == {"sample_id", "tokens", "pyxtal_args"} for x in s)
    from wylib.build import check_args

    assert all(check_args(x["pyxtal_args"]) is None for x in s)


def test_missing_release_file_gives_the_usual_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WYLIB_AUTO_DOWNLOAD", "0")
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    with pytest.raises(DataNotFoundError, match=r"wyformer_release/mp_20_wyformer_genes_10k.csv.gz.*figshare"):
        release.load_genes()


def test_corrupted_release_file_fails_its_checksum(tmp_path, monkeypatch):
    d = tmp_path / "wyformer_release"
    d.mkdir()
    (d / "mp_20_wyformer_cryspr_chgnet_fix_999.csv.gz").write_bytes(b"not the released file")
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_VERIFIED", {})
    with pytest.raises(ChecksumError, match="mp_20_wyformer_cryspr_chgnet_fix_999.csv.gz"):
        release.load_relaxed()


def test_bad_rows_are_reported_not_dropped(tmp_path, monkeypatch):
    import pandas as pd

    rows = pd.DataFrame(
        dict(
            material_id=[0, 1, 2, 3],
            group=[225] * 4,
            species=[json.dumps(["Na", "Cl"])] * 4,
            numIons=[json.dumps([4, 4]), json.dumps([4, 8]), json.dumps([8, 4]), json.dumps(["four", 4])],
            sites=[json.dumps([["4a"], ["4b"]])] * 2
            + [json.dumps([["4a", "4a"], ["4b"]]), json.dumps([["4a"], ["4b"]])],
            smact_validity=[True] * 4,
        )
    )
    d = tmp_path / "wyformer_release"
    d.mkdir()
    rows.to_csv(d / "genes.csv", index=False)
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(data.REGISTRY, "wyformer_release", {"genes": data.DataFile("toy", "genes", "genes.csv")})
    g = release.load_genes()
    assert len(g) == 4 and g["representation"].iloc[0] is not None
    assert g["pyxtal_args"].iloc[0] == dict(group=225, species=["Na", "Cl"], numIons=[4, 4], sites=[["4a"], ["4b"]])
    assert g["representation"].iloc[1] is None and "numIons" in g["reason"].iloc[1]
    assert g["representation"].iloc[2] is None and "no degrees of freedom" in g["reason"].iloc[2]
    assert g["representation"].iloc[3] is None and g["reason"].iloc[3]  # non-integer count: a reason, no crash


def test_benchmark_chemistry_of_the_authors_rows():
    from wylib import evaluate as ev

    assert ev.authors_elements("mp_20_biternary_open") == (2, 3) and ev.authors_elements("mp_20") is None
    s = ev.release_gene_set(None)
    assert s.id == "authors_genes_all" and s.name == ev.label(s.id) and len(s.representations) == 10000
    assert len(ev.release_gene_set().representations) == 7484
