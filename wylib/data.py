"""Data sets: a registry of files with URLs and SHA-256, loading, tokenization and caching. Method: docs/model.md."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import urllib.request
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pymatgen.core
import pyxtal
import spglib
from pymatgen.core import Structure
from tqdm.auto import tqdm

from wylib.symmetry import cache_dir
from wylib.tokens import WyckoffRepresentation
from wylib.vocab import Vocabulary

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_DATA_DIR = REPO_DATA.parent.parent / "shared" / "data"  # used when WYLIB_DATA_DIR is not set
_WT = "https://raw.githubusercontent.com/SymmetryAdvantage/WyckoffTransformer/main/data"
_CDVAE = "https://raw.githubusercontent.com/txie-93/cdvae/main/data"
_DIFFCSP = "https://raw.githubusercontent.com/jiaor17/DiffCSP/main/data"
_FIGSHARE = "https://figshare.com/ndownloader/files"
DOWNLOAD_TIMEOUT = 60.0  # seconds without progress (connecting or reading) before a download is given up


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: where it lives and what it must hash to (None: not pinned)."""

    dataset: str
    split: str
    filename: str
    url: str | None = None
    sha256: str | None = None


def _cdvae(name: str, root: str = _CDVAE) -> dict[str, DataFile]:
    return {s: DataFile(name, s, f"{s}.csv", f"{root}/{name}/{s}.csv") for s in ("train", "val", "test")}


def _pinned(name: str, **sha256: str) -> dict[str, DataFile]:
    return {s: DataFile(name, s, f"{s}.csv.gz", None, h) for s, h in sha256.items()}


REGISTRY: dict[str, dict[str, DataFile]] = {
    "mp_20": _cdvae("mp_20"),
    "perov_5": _cdvae("perov_5"),
    "carbon_24": _cdvae("carbon_24"),
    "mpts_52": {
        "train": DataFile("mpts_52", "train", "train.csv", f"{_DIFFCSP}/mpts_52/train.csv"),
        **_pinned(
            "mpts_52",
            val="af56fcaa2ed7f36e9ec0ce95ae409c73f4c909644153c3d441c76f87a4d1c11d",
            test="5c082d8cd8b5398bb9971f076e2f459771e01b45b1a2d206f665bd99a1369feb",
        ),
    },
    "mp_20_biternary": {
        s: DataFile("mp_20_biternary", s, f"{s}.csv.gz", f"{_WT}/mp_20_biternary/{s}.csv.gz")
        for s in ("train", "val", "test")
    },
    # The open stand-in of this project (see shared/data/README.md): test = the paper's
    # binary+ternary test split; train/val = a seeded 85/15 split of its validation split.
    "mp_20_biternary_open": _pinned(
        "mp_20_biternary_open",
        train="01d668f035328cb8ea95ddf05122eb3c302568153df89d25d78bb1a597b84134",
        val="6b2b39dd04910d5276eb269d555e43e78a7c32cdafcd4cadc62ecc3c34141eda",
        test="df8646c361a6bd957fcbed3083e03ef24c50986d30f524b44e594fb6b814d281",
    ),
    # The paper authors' released samples (Figshare article 29094701, "WyFormer generated structures"):
    # 10k Wyckoff genes of their full-MP-20 model and 999 of them built and CHGNet-relaxed with
    # several pyXtal trials each (`wylib.release` reads both).
    "wyformer_release": {
        "genes": DataFile(
            "wyformer_release",
            "genes",
            "mp_20_wyformer_genes_10k.csv.gz",
            f"{_FIGSHARE}/54711176",
            "f51445e0915df27e8fb142a34ca9bc67d4fa32cc9b9c2c8da3728857b694c6e2",
        ),
        "relaxed": DataFile(
            "wyformer_release",
            "relaxed",
            "mp_20_wyformer_cryspr_chgnet_fix_999.csv.gz",
            f"{_FIGSHARE}/54711194",
            "c4263b6d7a3e3435a310865c39dbe6f5ff30471b07f21083cdf87561156cff2c",
        ),
    },
    "mp_elemental_refs": {
        "all": DataFile(
            "mp_elemental_refs",
            "all",
            "2023-02-07-mp-elemental-reference-entries.json.gz",
            None,
            "9fd6ef848a91c88840a0d1709b5856d0edb4af22095237e59db52f2acd6bbf79",
        ),
    },
}


class DataNotFoundError(FileNotFoundError):
    """A data file is neither in the data directory nor downloadable here."""


class ChecksumError(ValueError):
    """A data file does not have its registered SHA-256."""


class DataFileError(ValueError):
    """A data file cannot be read as CSV or lacks a required column."""


class CacheDirError(PermissionError):
    """The cache directory cannot be created or written."""


def data_file(dataset: str, split: str) -> DataFile:
    if dataset not in REGISTRY:
        raise KeyError(f"unknown dataset {dataset!r}; known: {sorted(REGISTRY)}")
    if split not in REGISTRY[dataset]:
        raise KeyError(f"dataset {dataset!r} has no split {split!r}; known: {sorted(REGISTRY[dataset])}")
    return REGISTRY[dataset][split]


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_VERIFIED: dict[Path, str] = {}


def _verify(path: Path, entry: DataFile) -> Path:
    if entry.sha256 and _VERIFIED.get(path) != entry.sha256:
        actual = sha256sum(path)
        if actual != entry.sha256:
            raise ChecksumError(f"{path}: SHA-256 {actual} differs from the registered {entry.sha256}")
        _VERIFIED[path] = actual
    return path


def locate(dataset: str, split: str, download: bool | None = None) -> Path:
    """Path of a verified data file, downloading it into ``<repo>/data`` if needed and allowed."""
    entry = data_file(dataset, split)
    roots = [Path(os.environ.get("WYLIB_DATA_DIR") or DEFAULT_DATA_DIR), REPO_DATA]
    for root in roots:
        path = root / dataset / entry.filename
        if path.exists():
            return _verify(path, entry)
    if download is None:
        download = os.environ.get("WYLIB_AUTO_DOWNLOAD", "1") != "0"
    if download and entry.url:
        try:
            return _download(entry, REPO_DATA / dataset / entry.filename)
        except (OSError, http.client.HTTPException) as err:
            reason = f"download from {entry.url} failed ({type(err).__name__}: {err}; nothing was kept)"
    else:
        reason = (
            "no public URL is registered for it" if not entry.url else "downloads are disabled (WYLIB_AUTO_DOWNLOAD=0)"
        )
    raise DataNotFoundError(
        f"{dataset}/{entry.filename} not found in {' or '.join(str(r) for r in roots)}; {reason}. "
        f"Set WYLIB_DATA_DIR to the directory that holds {dataset}/{entry.filename}"
        + (f" or download it from {entry.url}" if entry.url else "")
    )


def _download(entry: DataFile, target: Path) -> Path:
    """Download ``entry.url`` to ``target`` through a ``.part`` file that is removed on any error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(entry.url, timeout=DOWNLOAD_TIMEOUT) as response, open(tmp, "wb") as f:
            expected = response.headers.get("Content-Length")
            while chunk := response.read(1 << 20):
                f.write(chunk)
            size = f.tell()
        if expected is not None and expected.isdigit() and size != int(expected):
            raise OSError(f"received {size} of the {expected} bytes announced: the connection closed early")
        if entry.sha256:
            actual = sha256sum(tmp)
            if actual != entry.sha256:  # ChecksumError is no OSError: `locate` lets it through
                raise ChecksumError(
                    f"{entry.dataset}/{entry.filename} downloaded from {entry.url} has SHA-256 "
                    f"{actual}, not the registered {entry.sha256}; nothing was kept"
                )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    if entry.sha256:
        _VERIFIED[target] = entry.sha256
    return target


def load_split(dataset: str, split: str, columns: tuple[str, ...] = ("material_id", "cif")) -> pd.DataFrame:
    """The split as a data frame in the CDVAE column layout (material_id, cif, ...)."""
    return _read_csv(locate(dataset, split), data_file(dataset, split), columns)


def _read_csv(path: Path, entry: DataFile, columns: tuple[str, ...]) -> pd.DataFrame:
    """The CSV (or .csv.gz) at ``path`` with ``columns`` present; `DataFileError` names the file and the fault."""
    try:
        frame = pd.read_csv(path)
    except EOFError as err:
        problem = f"is truncated ({err})"
    except gzip.BadGzipFile as err:
        problem = f"is not a gzip file or a corrupted one ({err})"
    except pd.errors.EmptyDataError:
        problem = "is empty (not even a header row)"
    except (OSError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as err:
        problem = f"is unreadable as CSV ({type(err).__name__}: {err})"
    else:
        missing = [c for c in columns if c not in frame.columns]
        if not missing:
            return frame
        names = [str(c) for c in frame.columns]
        problem = (
            f"has no column {', '.join(map(repr, missing))} (columns: {', '.join(names[:20])}"
            f"{', ...' if len(names) > 20 else ''})"
        )
    source = f" (source: {entry.url})" if entry.url else ""
    raise DataFileError(
        f"data file {path} {problem}; replace it with an intact copy of {entry.dataset}/{entry.filename}{source}"
    )


# ---------------------------------------------------------------- parsing and tokenization
def parse_cif(cif: str):
    """A pymatgen ``Structure`` from a CIF string; raises ValueError with the reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structure = Structure.from_str(cif, fmt="cif")
        except Exception as err:  # pymatgen raises many types for bad CIFs
            raise ValueError(f"unparsable CIF: {type(err).__name__}: {err}") from None
    return structure


def _tokenize_one(args: tuple[str, str, float, float]) -> tuple[str, dict | None, str | None]:
    material_id, cif, symprec, angle_tolerance = args
    try:
        rep = WyckoffRepresentation.from_structure(parse_cif(cif), symprec, angle_tolerance)
    except Exception as err:
        return material_id, None, f"{type(err).__name__}: {err}"
    return material_id, rep.as_dict(), None


def _parse_one(cif: str):
    try:
        return parse_cif(cif), None
    except ValueError as err:
        return None, str(err)


def _map(fn, items: list, n_jobs: int | None, desc: str, chunksize: int = 64) -> list:
    n_jobs = n_jobs or os.cpu_count() or 1
    if n_jobs == 1 or len(items) < 2 * chunksize:
        return [fn(x) for x in tqdm(items, desc=desc, leave=False)]
    with ProcessPoolExecutor(n_jobs) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=chunksize), total=len(items), desc=desc, leave=False))


def parse_structures(cifs: list[str], n_jobs: int | None = None) -> tuple[list, list[tuple[int, str]]]:
    """Parse CIFs in parallel; returns (structures with None for failures, [(index, reason)])."""
    results = _map(_parse_one, list(cifs), n_jobs, "parse CIF")
    return [s for s, _ in results], [(i, r) for i, (_, r) in enumerate(results) if r]


@dataclass
class TokenizedSplit:
    """Wyckoff representations of one split, with the structures that failed and why."""

    dataset: str
    split: str
    material_ids: list[str]
    representations: list[WyckoffRepresentation]
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["material_id", "reason"]))

    def __len__(self) -> int:
        return len(self.representations)

    @property
    def n_total(self) -> int:
        return len(self.representations) + len(self.failures)

    @property
    def success_rate(self) -> float:
        return len(self.representations) / max(self.n_total, 1)


def check_writable_dir(directory: Path) -> Path:
    """Create ``directory`` if needed and check that files can be written in it (else `CacheDirError`)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        problem = None if os.access(directory, os.W_OK | os.X_OK) else "no write permission"
    except OSError as err:
        problem = f"cannot be created: {type(err).__name__}: {err}"
    if problem:
        raise CacheDirError(
            f"cache directory {directory} is not writable ({problem}); set WYLIB_CACHE_DIR to a "
            "writable directory, or pass use_cache=False to work without a cache"
        )
    return directory


def _code_fingerprint() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("tokens.py", "symmetry.py", "data.py"):
        digest.update((here / name).read_bytes())
    digest.update(f"{spglib.__version__}|{pyxtal.__version__}|{pymatgen.core.__version__}".encode())
    return digest.hexdigest()[:12]


def tokenize_split(
    dataset: str,
    split: str,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    n_jobs: int | None = None,
    max_structures: int | None = None,
    use_cache: bool = True,
) -> TokenizedSplit:
    """Parse and tokenize a split in parallel (progress bar), cached on disk."""
    path = locate(dataset, split)
    key = (
        f"{dataset}_{split}_sp{symprec}_at{angle_tolerance}_n{max_structures}_{sha256sum(path)[:12]}"
        f"_{_code_fingerprint()}"
    )
    cache = cache_dir() / "tokens" / f"{key}.json.gz"
    if use_cache and cache.exists():
        with gzip.open(cache, "rt") as f:
            raw = json.load(f)
    else:
        if use_cache:
            check_writable_dir(cache.parent)  # before the work, not after it
        frame = _read_csv(path, data_file(dataset, split), ("material_id", "cif"))
        if max_structures is not None:
            frame = frame.iloc[:max_structures]
        jobs = [(str(m), c, symprec, angle_tolerance) for m, c in zip(frame["material_id"], frame["cif"], strict=True)]
        results = _map(_tokenize_one, jobs, n_jobs, f"tokenize {dataset}/{split}")
        raw = {"ok": [(m, d) for m, d, r in results if r is None], "failed": [(m, r) for m, d, r in results if r]}
        if use_cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            with gzip.open(tmp, "wt") as f:
                json.dump(raw, f)
            tmp.replace(cache)
    return TokenizedSplit(
        dataset,
        split,
        [m for m, _ in raw["ok"]],
        [WyckoffRepresentation.from_dict(d) for _, d in raw["ok"]],
        pd.DataFrame(raw["failed"], columns=["material_id", "reason"]),
    )


def load_encoded(
    dataset: str,
    split: str,
    vocab=None,
    max_structures: int | None = None,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    n_jobs: int | None = None,
):
    """(EncodedDataset, Vocabulary) of a split; the vocabulary is built from the train split if not given."""
    if vocab is None:
        train = tokenize_split(dataset, "train", symprec, angle_tolerance, n_jobs, max_structures)
        vocab = Vocabulary.from_training(train.representations)
    tokenized = tokenize_split(dataset, split, symprec, angle_tolerance, n_jobs, max_structures)
    keep, dropped = [], []
    for mid, rep in zip(tokenized.material_ids, tokenized.representations, strict=True):
        try:
            vocab.encode_tokens(rep)
            keep.append(rep)
        except ValueError as err:
            dropped.append((mid, str(err)))
    encoded = vocab.encode(keep)
    encoded.dropped = dropped  # type: ignore[attr-defined]
    return encoded, vocab
