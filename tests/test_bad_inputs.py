"""Bad configurations, damaged model files and unwritable caches get an error naming the fault, never a crash
or a wrong result without a word (issue 33)."""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path

import pytest

from wylib import data, symmetry
from wylib.relax import RelaxConfig
from wylib.train import ModelFileError, load_run

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "field, value",
    [
        ("fmax", math.inf),
        ("fmax", math.nan),
        ("fmax", 0.0),
        ("fmax", "0.05"),
        ("steps", 0),
        ("steps", 2.5),
        ("steps", True),
        ("symprec", math.nan),
        ("symprec", -0.1),
        ("max_volume_ratio", math.nan),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_edges", -1),
        ("device", "gpu"),
    ],
)
def test_relax_config_names_the_bad_field(field, value):
    """symprec NaN or negative used to segfault the relax worker; fmax inf marked unrelaxed structures converged;
    steps 0 or 2.5 counted unrelaxed structures usable."""
    with pytest.raises(ValueError, match=f"RelaxConfig.{field}"):
        RelaxConfig(**{field: value})


def test_good_relax_configs_pass():
    RelaxConfig()
    RelaxConfig(fmax=0.1, steps=1, symprec=0.1, batch_size=1, max_edges=0, device="auto")


def _run_copy(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(REPO / "runs" / "default", run)
    return run


def test_flipped_bytes_in_a_weight_tensor_are_found(tmp_path):
    """64 flipped bytes inside one tensor used to load without a word (validity fell from 98 % to 55 %)."""
    run = _run_copy(tmp_path)
    with zipfile.ZipFile(run / "model.pt") as z:
        big = max(z.infolist(), key=lambda i: i.file_size)
    blob = bytearray((run / "model.pt").read_bytes())
    start = blob.index(b"PK\x03\x04", big.header_offset)
    offset = start + 30 + int.from_bytes(blob[start + 26 : start + 28], "little")
    offset += int.from_bytes(blob[start + 28 : start + 30], "little") + 1000
    blob[offset : offset + 64] = bytes(b ^ 0xFF for b in blob[offset : offset + 64])
    (run / "model.pt").write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="model.pt") as err:
        load_run(run)
    assert "weights_only=False" not in str(err.value)


def test_damaged_header_and_missing_files_are_named(tmp_path):
    run = _run_copy(tmp_path)
    (run / "model.pt").write_bytes(b"not a zip" + (run / "model.pt").read_bytes()[100:])
    with pytest.raises(ModelFileError, match="model.pt") as err:
        load_run(run)
    assert "weights_only=False" not in str(err.value)
    run = _run_copy(tmp_path / "b")
    (run / "vocab.json").unlink()
    with pytest.raises(ModelFileError, match="vocab.json"):
        load_run(run)
    with pytest.raises(ModelFileError, match="config.json"):
        load_run(tmp_path / "nowhere")


@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """A cache dir below a regular file: it can be neither created nor written (also for root)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(blocker / "cache"))
    symmetry._raw_tables.cache_clear()
    symmetry.wyckoff_tables.cache_clear()
    yield blocker / "cache"
    symmetry._raw_tables.cache_clear()
    symmetry.wyckoff_tables.cache_clear()


def test_unwritable_cache_is_found_before_the_work(unwritable_cache):
    with pytest.raises(data.CacheDirError, match="not writable"):
        data.tokenize_split("mp_20_biternary_open", "val", max_structures=3, n_jobs=1)


@pytest.mark.slow
def test_use_cache_false_works_without_writing(unwritable_cache):
    """It used to recompute the Wyckoff tables per structure, fail to write them and return an empty split."""
    with pytest.warns(UserWarning, match="Wyckoff tables"):
        split = data.tokenize_split("mp_20_biternary_open", "val", max_structures=3, n_jobs=1, use_cache=False)
    assert len(split.representations) == 3 and not unwritable_cache.exists()
