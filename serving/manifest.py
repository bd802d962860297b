"""The event store's manifests: per partition, each published part file's rows, size and checksum.

A part file is published when its partition's ``manifest.json`` lists it; the store reads
listed files only and checks each against its entry, so a file written over, cut short or
deleted is a fault, never silently fewer or other events. The store's ``partitions.json``
lists every partition ever published, so a partition deleted whole is a fault too.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from serving.errors import Unavailable

MANIFEST = "manifest.json"
CATALOG = "partitions.json"
_PART_NAME = re.compile(r"^part-(\d{8})-[^/]*\.parquet$")
_HASH_CHUNK = 1 << 20


class StoreFault(Unavailable):
    """The event store cannot give the events the database accepted: a file is corrupt, missing
    or unlisted. Nothing is decided on a partial window; the request may be made again later."""

    def __init__(self, what: str) -> None:
        super().__init__(f"event store fault: {what}; nothing was recorded")
        self.what = what


@dataclass(frozen=True)
class PartFile:
    """A published part file as its manifest lists it."""

    batch: int
    rows: int
    bytes: int
    sha256: str


def part_batch(name: str) -> int | None:
    """The ingest batch in a part file's name (``part-00000042-...parquet``), or None."""
    match = _PART_NAME.match(name)
    return int(match.group(1)) if match else None


def describe(path: Path, *, batch: int) -> PartFile:
    """A part file's manifest entry, from its Parquet footer and its bytes; StoreFault if unreadable."""
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as error:
        raise StoreFault(f"{path.name}: not a readable Parquet file ({error})") from None
    return PartFile(batch=batch, rows=int(rows), bytes=path.stat().st_size, sha256=file_sha256(path))


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(folder: Path) -> dict[str, PartFile] | None:
    """The partition's entries by file name; None when it has no manifest."""
    path = folder / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise StoreFault(f"{folder.name}/{MANIFEST} cannot be read ({error})") from None
    return {name: PartFile(**entry) for name, entry in raw["files"].items()}


def save_manifest(folder: Path, entries: dict[str, PartFile]) -> None:
    """Write the partition's manifest whole (a reader sees the old one or the new one)."""
    body = {"files": {name: asdict(entry) for name, entry in sorted(entries.items())}}
    write_atomically(folder / MANIFEST, json.dumps(body, indent=1))


def load_catalog(root: Path) -> set[str]:
    """The published partitions, as paths relative to the store's root."""
    try:
        return set(json.loads((root / CATALOG).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as error:
        raise StoreFault(f"{CATALOG} cannot be read ({error})") from None


def save_catalog(root: Path, partitions: set[str]) -> None:
    """Write the catalog of published partitions whole."""
    write_atomically(root / CATALOG, json.dumps(sorted(partitions), indent=0))


def write_atomically(path: Path, text: str) -> None:
    """Write a file through a temporary name and a rename, so a crashed process leaves it whole or
    as it was. Not synced: like the part files, it survives the process, not a power cut."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class ChecksumCache:
    """Checksums of files already verified, by path, size and modification time (a file written
    over gets a new time, so it is hashed again)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def check(self, path: Path, entry: PartFile, *, name: str) -> None:
        """StoreFault unless the file is there with the entry's size and checksum."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise StoreFault(f"{name}: listed in its manifest but missing") from None
        if stat.st_size != entry.bytes:
            raise StoreFault(f"{name}: {stat.st_size} bytes where its manifest says {entry.bytes}")
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._known.get(key)
        if known is None:
            known = file_sha256(path)
            with self._lock:
                self._known[key] = known
        if known != entry.sha256:
            raise StoreFault(f"{name}: checksum differs from its manifest (corrupt or written over)")
