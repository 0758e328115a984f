"""Data registry, checksums, missing-file messages, caching and the tokenized split."""

import gzip
import hashlib
import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from wylib import data
from wylib.data import ChecksumError, DataNotFoundError, locate, tokenize_split


def test_registry_has_all_datasets():
    assert {"mp_20", "mp_20_biternary", "mpts_52", "perov_5", "carbon_24", "mp_20_biternary_open"} <= set(data.REGISTRY)
    assert data.REGISTRY["mp_20"]["train"].url.endswith("mp_20/train.csv")
    assert all(len(f.sha256) == 64 for f in data.REGISTRY["mp_20_biternary_open"].values())


def test_shared_files_verify():
    for split in ("train", "val", "test"):
        path = locate("mp_20_biternary_open", split)
        assert data.sha256sum(path) == data.REGISTRY["mp_20_biternary_open"][split].sha256


def test_data_dir_defaults_to_shared_data_beside_the_repository(monkeypatch):
    """Without WYLIB_DATA_DIR the files are found in ../shared/data, as the README says (CI lays it there)."""
    monkeypatch.delenv("WYLIB_DATA_DIR", raising=False)
    if not (data.DEFAULT_DATA_DIR / "mp_20_biternary_open").is_dir():
        pytest.skip("no ../shared/data beside this checkout")
    assert locate("mp_20_biternary_open", "val", download=False).parent.parent == data.DEFAULT_DATA_DIR


def test_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    with pytest.raises(DataNotFoundError) as err:
        locate("mp_20", "train", download=False)
    msg = str(err.value)
    assert "mp_20/train.csv" in msg and "WYLIB_DATA_DIR" in msg and "https://" in msg


def test_checksum_mismatch(tmp_path, monkeypatch):
    (tmp_path / "mp_20_biternary_open").mkdir()
    with gzip.open(tmp_path / "mp_20_biternary_open" / "val.csv.gz", "wt") as f:
        f.write("material_id,cif\n")
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path))
    with pytest.raises(ChecksumError):
        locate("mp_20_biternary_open", "val")


def test_tokenize_with_failures_listed(tmp_path, monkeypatch, rocksalt):
    """Bad rows (malformed CIF, partial occupancy, unknown element) are listed, good rows kept;
    cache outside the data dir."""
    from pymatgen.core import Lattice, Structure

    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]]).to(fmt="cif")
    unknown = rocksalt.to(fmt="cif").replace(" Cl ", " Xq ").replace("Cl", "Xq")
    rows = pd.DataFrame(
        {
            "material_id": ["ok-1", "bad-cif", "disordered", "unknown-el"],
            "cif": [rocksalt.to(fmt="cif"), "data_x\nnonsense", disordered, unknown],
        }
    )
    ddir = tmp_path / "data_dir"
    (ddir / "toy").mkdir(parents=True)
    rows.to_csv(ddir / "toy" / "train.csv", index=False)
    monkeypatch.setenv("WYLIB_DATA_DIR", str(ddir))
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(data.REGISTRY, "toy", {"train": data.DataFile("toy", "train", "train.csv")})
    ddir.chmod(0o555)
    try:
        split = tokenize_split("toy", "train", n_jobs=1)
    finally:
        ddir.chmod(0o755)
    assert split.material_ids == ["ok-1"]
    assert split.representations[0].spacegroup == 225
    reasons = dict(zip(split.failures.material_id, split.failures.reason, strict=True))
    assert set(reasons) == {"bad-cif", "disordered", "unknown-el"}
    assert "disordered" in reasons["disordered"]
    assert list((tmp_path / "cache" / "tokens").glob("*.json.gz"))
    assert not [p for p in ddir.rglob("*") if p.name != "train.csv" and p.is_file()]
    again = tokenize_split("toy", "train", n_jobs=1)  # from cache
    assert again.representations == split.representations and len(again.failures) == 3


def test_load_encoded_small():
    from wylib.vocab import STOP

    encoded, vocab = data.load_encoded("mp_20_biternary_open", "val", max_structures=60)
    # the vocabulary comes from 60 training structures only: val structures with other elements are dropped,
    # with reasons
    assert len(encoded) + len(encoded.dropped) == 60 and len(encoded) > 20
    assert all("not in the vocabulary" in reason for _, reason in encoded.dropped)
    n = encoded.n_sites
    assert (encoded.element[range(len(n)), n] == STOP).all()
    assert (encoded.site_symmetry[range(len(n)), 0, n] == STOP).all()
    assert encoded.site_symmetry.shape[1] == int(encoded.n_variants.max())
    assert "O" in vocab.elements


@pytest.mark.slow
def test_open_dataset_tokenizes():
    """Acceptance: at least 99.5 % of mp_20_biternary_open tokenizes (train split here; all splits in notebook 01)."""
    split = tokenize_split("mp_20_biternary_open", "train")
    assert split.n_total == 6069
    assert split.success_rate >= 0.995, split.failures


# ---------------------------------------------------------------- downloads, against a local server on 127.0.0.1
ROWS = "".join(f"x-{i},data_{hashlib.sha256(str(i).encode()).hexdigest()}\n" for i in range(2000))
BODY = gzip.compress(f"material_id,cif\n{ROWS}".encode())  # about 80 kB: several reads


class _Handler(BaseHTTPRequestHandler):
    """GET /<mode>: ok (whole body), short (Content-Length > body, then close), drop (half the body, then a
    TCP reset), stall (half the body, then silence until the test ends), anything else 404."""

    def do_GET(self):
        mode = self.path.strip("/").split("/")[0]
        self.server.hits.append(mode)
        if mode not in ("ok", "short", "drop", "stall"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY) + (1000 if mode == "short" else 0)))
        self.end_headers()
        self.wfile.write(BODY if mode in ("ok", "short") else BODY[: len(BODY) // 2])
        self.wfile.flush()
        if mode == "drop":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif mode == "stall":
            self.server.release.wait(10)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (port chosen by the OS), stopped at the end of the test."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.hits, httpd.release = [], threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def dl(tmp_path, monkeypatch):
    """Empty data and download folders; no proxy (requests go to 127.0.0.1 only); returns a registering function."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path / "data_dir"))
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 1.0)

    def register(url: str, sha256: str | None = hashlib.sha256(BODY).hexdigest()) -> data.DataFile:
        entry = data.DataFile("toy_dl", "train", "train.csv.gz", url, sha256)
        monkeypatch.setitem(data.REGISTRY, "toy_dl", {"train": entry})
        return entry

    return register


def _url(server, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}/train.csv.gz"


def _left_files(tmp_path) -> list:
    return [p for p in (tmp_path / "repo_data").rglob("*") if p.is_file()]


def test_download_good_file(server, dl, tmp_path):
    dl(_url(server, "ok"))
    path = locate("toy_dl", "train", download=True)
    assert path == tmp_path / "repo_data" / "toy_dl" / "train.csv.gz"
    assert path.read_bytes() == BODY and _left_files(tmp_path) == [path]
    assert len(data.load_split("toy_dl", "train")) == 2000
    assert locate("toy_dl", "train", download=True) == path and server.hits == ["ok"]  # second call: local copy


@pytest.mark.parametrize(
    "mode, sha",
    [("short", None), ("short", "pinned"), ("drop", None), ("stall", None), ("missing", None)],
    ids=lambda x: str(x),
)
def test_download_failures_leave_nothing(server, dl, tmp_path, mode, sha):
    """Truncated body (with and without a registered checksum), a dropped connection, a stalled server, a 404."""
    entry = dl(_url(server, mode), *(() if sha else (None,)))
    with pytest.raises(DataNotFoundError) as err:
        locate("toy_dl", "train", download=True)
    assert "toy_dl/train.csv.gz" in str(err.value) and entry.url in str(err.value)
    assert _left_files(tmp_path) == [] and server.hits == [mode]


def test_download_wrong_checksum(server, dl, tmp_path):
    entry = dl(_url(server, "ok"), "0" * 64)
    with pytest.raises(ChecksumError) as err:
        locate("toy_dl", "train", download=True)
    assert "toy_dl/train.csv.gz" in str(err.value) and entry.url in str(err.value) and "0" * 64 in str(err.value)
    assert _left_files(tmp_path) == []


def test_download_server_unreachable(dl, tmp_path):
    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = dl(f"http://127.0.0.1:{port}/ok/train.csv.gz")
    with pytest.raises(DataNotFoundError) as err:
        locate("toy_dl", "train", download=True)
    assert "toy_dl/train.csv.gz" in str(err.value) and entry.url in str(err.value)
    assert _left_files(tmp_path) == []


# ---------------------------------------------------------------- unreadable files, cache directory
def _toy(tmp_path, monkeypatch, filename: str, content: bytes) -> None:
    (tmp_path / "data_dir" / "toy").mkdir(parents=True)
    (tmp_path / "data_dir" / "toy" / filename).write_bytes(content)
    monkeypatch.setenv("WYLIB_DATA_DIR", str(tmp_path / "data_dir"))
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(data.REGISTRY, "toy", {"train": data.DataFile("toy", "train", filename)})


@pytest.mark.parametrize(
    "filename, content, problem",
    [
        ("train.csv.gz", BODY[: len(BODY) // 2], "truncated"),
        ("train.csv.gz", b"not gzip at all", "not a gzip file"),
        ("train.csv", b'material_id,cif\nx-1,"data_x\n_cell_length_a 4\n', "unreadable"),
        ("train.csv", b"material_id,structure\nx-1,abc\n", "'cif'"),
        ("train.csv", b"", "empty"),
    ],
    ids=["truncated-gz", "not-gz", "unterminated-quote", "no-cif-column", "empty"],
)
def test_unreadable_file_named(tmp_path, monkeypatch, filename, content, problem):
    _toy(tmp_path, monkeypatch, filename, content)
    for read in (lambda: data.load_split("toy", "train"), lambda: tokenize_split("toy", "train", n_jobs=1)):
        with pytest.raises(data.DataFileError) as err:
            read()
        assert str(tmp_path / "data_dir" / "toy" / filename) in str(err.value) and problem in str(err.value)


def _no_work(*args, **kwargs):
    raise AssertionError("tokenization started before the cache directory was checked")


def _one_structure(tmp_path, monkeypatch, rocksalt) -> None:
    frame = pd.DataFrame({"material_id": ["a"], "cif": [rocksalt.to(fmt="cif")]})
    _toy(tmp_path, monkeypatch, "train.csv", frame.to_csv(index=False).encode())


def test_cache_dir_under_a_file_fails_before_work(tmp_path, monkeypatch, rocksalt):
    _one_structure(tmp_path, monkeypatch, rocksalt)
    (tmp_path / "plain_file").write_text("x")
    monkeypatch.setenv("WYLIB_CACHE_DIR", str(tmp_path / "plain_file" / "cache"))
    monkeypatch.setattr(data, "_map", _no_work)
    with pytest.raises(data.CacheDirError) as err:
        tokenize_split("toy", "train", n_jobs=1)
    assert str(tmp_path / "plain_file" / "cache") in str(err.value) and "WYLIB_CACHE_DIR" in str(err.value)


def test_cache_dir_not_writable_fails_before_work(tmp_path, monkeypatch, rocksalt):
    """No write permission (os.access says so; chmod alone does not stop root) is reported before any work."""
    _one_structure(tmp_path, monkeypatch, rocksalt)
    tokens = tmp_path / "cache" / "tokens"
    real_access = os.access
    monkeypatch.setattr(data.os, "access", lambda p, mode, **kw: Path(p) != tokens and real_access(p, mode, **kw))
    with monkeypatch.context() as m:
        m.setattr(data, "_map", _no_work)
        with pytest.raises(data.CacheDirError) as err:
            tokenize_split("toy", "train", n_jobs=1)
    assert str(tokens) in str(err.value) and "WYLIB_CACHE_DIR" in str(err.value)
    assert len(tokenize_split("toy", "train", n_jobs=1, use_cache=False)) == 1  # the way out the message names
    assert not list(tokens.iterdir())


def test_check_writable_dir_creates_it(tmp_path):
    data.check_writable_dir(tmp_path / "new" / "dir")
    assert (tmp_path / "new" / "dir").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 555; covered by the os.access test")
def test_check_writable_dir_chmod(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(data.CacheDirError):
            data.check_writable_dir(ro / "tokens")
    finally:
        ro.chmod(0o755)
