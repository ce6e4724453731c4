"""Turn the paths a user typed (files, directories, globs) into typed input files."""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from rollctl.errors import EmptyInputError, InputError

# Longest suffix first, so `.jsonl.gz` wins over `.gz`.
_SUFFIX_FORMATS: tuple[tuple[str, str], ...] = (
    (".jsonl.gz", "jsonl"), (".jsonl.zst", "jsonl"), (".ndjson.gz", "jsonl"), (".ndjson.zst", "jsonl"),
    (".json.gz", "json"), (".json.zst", "json"), (".csv.gz", "csv"), (".csv.zst", "csv"),
    (".tsv.gz", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"),
    (".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"), (".tsv", "csv"),
    (".duckdb", "duckdb"), (".eval", "inspect_eval"),
)

SUPPORTED_SUFFIXES = tuple(s for s, _ in _SUFFIX_FORMATS)


@dataclass(frozen=True)
class InputFile:
    """One file to read, with the container format its name says it has."""

    path: str
    """As the user named it (or as a directory or glob expanded to it): shown in reports and errors."""
    format: str

    @property
    def source(self) -> str:
        """The path to hand DuckDB's readers: rollctl has expanded globs already, and DuckDB would expand
        the name again (`traces[1].jsonl` would read `traces1.jsonl`, `a*.jsonl` every match, `~/x` the
        home directory), so the name is absolute with its glob characters escaped as character classes."""
        return literal_path(self.path)


def literal_path(path: str) -> str:
    """`path` made absolute, with DuckDB's glob characters (`*`, `?`, `[`) matching only themselves."""
    absolute = os.path.abspath(path)
    return "".join(f"[{c}]" if c in "*?[" else c for c in absolute)


def format_of(path: str) -> str | None:
    lower = path.lower()
    for suffix, fmt in _SUFFIX_FORMATS:
        if lower.endswith(suffix):
            return fmt
    return None


def expand_paths(paths: Sequence[str]) -> list[InputFile]:
    """Files named directly, every readable file below a directory, and glob matches, in a stable order."""
    if not paths:
        raise InputError("no input files given", fix="pass one or more files, directories or globs")
    found: list[InputFile] = []
    seen: set[tuple[int, int]] = set()
    for given in paths:
        for path in _expand_one(given):
            # One file reached twice (a symlink, a hard link, overlapping globs or directories) is read once.
            stat = os.stat(path)
            if (stat.st_dev, stat.st_ino) in seen:
                continue
            seen.add((stat.st_dev, stat.st_ino))
            fmt = format_of(path)
            if fmt is None:
                raise InputError(
                    "unknown file type",
                    path=path,
                    fix=f"rename it with one of {', '.join(SUPPORTED_SUFFIXES[:12])}, ... or pass --format",
                )
            _check_readable(path)
            found.append(InputFile(path=path, format=fmt))
    return found


# A URL or an engine prefix (`s3://`, `https://`, `hf://`, `md:`): DuckDB would fetch it, rollctl reads local files.
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def is_remote(path: str) -> bool:
    """Whether `path` names a URL or an engine's remote prefix rather than a local file."""
    return bool(_REMOTE.match(path))


def _expand_one(given: str) -> list[str]:
    if is_remote(given) and not os.path.exists(given):
        raise InputError("remote paths are not read: rollctl reads local files and never reaches the network",
                         path=given, fix="copy the export to this machine first")
    if os.path.isdir(given):
        files = sorted(
            os.path.join(root, name)
            for root, _dirs, names in os.walk(given)
            for name in names
            if format_of(name) is not None and not name.startswith(".")
        )
        if not files:
            raise EmptyInputError(
                "directory holds no readable files", path=given,
                fix="expected .jsonl, .json, .parquet, .csv (optionally .gz/.zst) files",
            )
        return files
    if os.path.exists(given):
        return [given]
    if glob.has_magic(given):
        matches = sorted(p for p in glob.glob(given, recursive=True) if os.path.isfile(p))
        if not matches:
            raise InputError("no file matches this pattern", path=given, fix="check the glob and quote it")
        return matches
    raise InputError("no such file or directory", path=given, fix="check the path")


def _check_readable(path: str) -> None:
    if not os.access(path, os.R_OK):
        raise InputError("permission denied", path=path, fix="make the file readable by this user")
    if os.path.getsize(path) == 0:
        raise EmptyInputError("file is empty", path=path, fix="export it again; an empty file has no rows")


DIGEST_CHUNK_BYTES = 64 * 1024 * 1024


def content_digest(path: str) -> str:
    """A SHA-256 tree digest of a file's bytes: SHA-256 over the size and the SHA-256 of each 64 MB chunk.

    `rollctl ingest` keys an export it has loaded by its contents, not its name or modification time: an
    export edited in place (or copied over with its old mtime) is then never mistaken for the old one. One
    SHA-256 stream runs on one core (~0.8 s of CPU per GB, as long as DuckDB takes to count a JSONL file's
    lines on two); chunks hash on every core (hashlib and file reads release the GIL), which is what lets a
    re-ingest answer in about the time of that count.
    """
    size = os.path.getsize(path)

    def chunk(offset: int) -> bytes:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            fh.seek(offset)
            left = min(DIGEST_CHUNK_BYTES, size - offset)
            while left > 0:
                block = fh.read(min(left, 1024 * 1024))
                if not block:
                    break
                digest.update(block)
                left -= len(block)
        return digest.digest()

    offsets = range(0, max(size, 1), DIGEST_CHUNK_BYTES)
    with ThreadPoolExecutor(max_workers=min(len(offsets), os.cpu_count() or 1)) as pool:
        parts = list(pool.map(chunk, offsets))
    return hashlib.sha256(size.to_bytes(8, "big") + b"".join(parts)).hexdigest()


def gzip_problem(path: str, stop: threading.Event | None = None) -> str | None:
    """Why a gzip file's own checks fail (CRC-32 or length trailer of a member), else None (also when `stop`
    is set before the end: nobody needs the answer any more)."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(8 * 1024 * 1024):
                if stop is not None and stop.is_set():
                    return None
    except (OSError, EOFError, zlib.error) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


@contextmanager
def gzip_trailers_checked(paths: Iterable[str]) -> Iterator[None]:
    """Check the gzip files among `paths` while the body reads them, and refuse a corrupt one after it.

    DuckDB inflates gzip without checking the trailer, so a file whose bytes were corrupted in a way deflate
    cannot notice loaded as if it were whole. zlib checks it while inflating (releasing the GIL, so this runs
    on a second thread beside DuckDB's own single-threaded read of the same file). When the body fails, the
    check stops at its next chunk instead of inflating the rest of the file for nothing.
    """
    gzipped = [p for p in paths if p.lower().endswith(".gz")]
    if not gzipped:
        yield
        return
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as checker:
        checks = [(path, checker.submit(gzip_problem, path, stop)) for path in gzipped]
        try:
            yield
        except BaseException:
            stop.set()
            raise
        for path, check in checks:
            problem = check.result()
            if problem is not None:
                raise InputError(f"the gzip file is corrupt ({problem})", path=path,
                                 fix="download or export it again; its contents cannot be trusted")
