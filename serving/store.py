"""The event store: clean events as Parquet files partitioned by campaign and day.

Ingest is atomic with the database: a batch's files are first *staged* under
``.staging/KEY/`` with a journal of their manifest entries, the database transaction
commits, then the files are *published* (renamed into their partitions and listed in
their manifests). ``reconcile_staged`` finishes what a crash left between those steps:
staged batches the database holds are published, the others discarded. ``reconcile``
(at start-up) also quarantines published files whose batch the database does not hold,
and lists files of accepted batches that earlier versions wrote without a manifest.
Reads take listed files only and check each (``serving.manifest``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import TS_DTYPE
from serving import faults
from serving.manifest import (
    MANIFEST,
    ChecksumCache,
    PartFile,
    StoreFault,
    describe,
    load_catalog,
    load_manifest,
    part_batch,
    save_catalog,
    save_manifest,
    write_atomically,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_LEGACY_NAME = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.:-]{1,128}$")
STAGING = ".staging"
QUARANTINE = ".quarantine"
JOURNAL = "journal.json"
WRITING_LOCK = ".writing.lock"

# which of these batch ids the database holds (committed ingest batches)
Committed = Callable[[Iterable[int]], set[int]]


def partition_name(campaign_id: str) -> str:
    """The folder of a campaign: a readable slug and a hash of the id, never the raw id.

    Whatever the id holds ('..', separators, NUL), the name is one plain path piece;
    the hash keeps ids that slug alike (``a/b`` and ``a_b``) apart.
    """
    digest = hashlib.sha256(campaign_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"campaign={_UNSAFE.sub('_', campaign_id)[:40]}-{digest}"


@dataclass
class Reconciled:
    """What a reconciliation did: staged batches published or discarded, files quarantined or listed."""

    published: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)


class EventStore:
    """Partitioned Parquet: ``root/campaign=SLUG-HASH/day=YYYY-MM-DD/part-BATCH-*.parquet``.

    Folders named ``campaign_id=C`` by earlier versions are still read, for ids that are plain names.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._checksums = ChecksumCache()
        # held while what is published changes (publish, reconcile) and by ingest from its commit to
        # its publish: whoever holds it sees every committed batch published, in every process
        self.writing = StoreLock(root / WRITING_LOCK)

    def is_reachable(self) -> bool:
        """Whether the store's folder exists and can be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            return False
        return True

    def stage(self, events: pd.DataFrame, *, batch_id: int) -> str:
        """Write a batch's events as staged files (not read by anyone); returns the staging key.

        The staged files lie side by side in the batch's folder (``staged_name``), not in a copy of
        their partitions' folders: two folders made and removed per partition cost more than the
        files on a busy disk (docs/benchmarks-archive.md, "Ingest and detection against 8f1b572")."""
        key = f"{batch_id:08d}-{uuid.uuid4().hex[:6]}"
        folder = self.root / STAGING / key
        folder.mkdir(parents=True)
        journal: dict[str, dict[str, object]] = {}
        days = events["ts"].dt.strftime("%Y-%m-%d")
        for (campaign_id, day), part in events.groupby([events["campaign_id"].astype("str"), days]):
            relative = (
                f"{partition_name(str(campaign_id))}/day={day}/part-{key}-{uuid.uuid4().hex[:8]}.parquet"
            )
            path = folder / staged_name(relative)
            part.to_parquet(path, index=False)
            journal[relative] = asdict(describe(path, batch=batch_id))
        write_atomically(folder / JOURNAL, json.dumps(journal))
        return key

    def publish(self, key: str) -> list[Path]:
        """Move a staged batch into its partitions and list it in their manifests (idempotent)."""
        folder = self.root / STAGING / key
        journal = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
        published: list[Path] = []
        with self.writing:
            by_partition: dict[str, dict[str, PartFile]] = {}
            for relative, entry in journal.items():
                target = self.root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                # staged by this version side by side, or by earlier ones in a copy of the partitions
                for staged in (folder / staged_name(relative), folder / relative):
                    if staged.exists():
                        staged.replace(target)
                        faults.point("ingest_mid_publish")
                published.append(target)
                by_partition.setdefault(str(Path(relative).parent), {})[target.name] = PartFile(**entry)
            for partition, entries in by_partition.items():
                listed = load_manifest(self.root / partition) or {}
                save_manifest(self.root / partition, {**listed, **entries})
            catalog = load_catalog(self.root)
            if not set(by_partition) <= catalog:
                save_catalog(self.root, catalog | set(by_partition))
            shutil.rmtree(folder)
        return published

    def discard(self, key: str) -> None:
        """Remove a staged batch the database never accepted."""
        shutil.rmtree(self.root / STAGING / key, ignore_errors=True)

    def append(self, events: pd.DataFrame, *, batch_id: int) -> list[Path]:
        """Stage and publish at once (for tools and tests without a database); returns the files."""
        return self.publish(self.stage(events, batch_id=batch_id))

    def reconcile_staged(self, committed: Committed) -> Reconciled:
        """Publish the staged batches the database holds and discard the others."""
        done = Reconciled()
        staging = self.root / STAGING
        keys = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
        heads = {int(key.split("-")[0]) for key in keys if key.split("-")[0].isdigit()}
        accepted = committed(heads) if heads else set()
        with self.writing:
            for key in keys:
                head = key.split("-")[0]
                if head.isdigit() and int(head) in accepted and (staging / key / JOURNAL).exists():
                    self.publish(key)
                    done.published.append(key)
                else:
                    self.discard(key)
                    done.discarded.append(key)
        return done

    def reconcile(self, committed: Committed) -> Reconciled:
        """``reconcile_staged``, then every partition against the database (at start-up)."""
        with self.writing:
            done = self.reconcile_staged(committed)
            folders = [d for d in self._partition_folders() if d.is_dir()]
            accepted = committed(
                {
                    b
                    for d in folders
                    for p in d.glob("part-*.parquet")
                    if (b := part_batch(p.name)) is not None
                }
                | {e.batch for d in folders for e in (load_manifest(d) or {}).values()}
            )
            catalog = load_catalog(self.root)
            listed = {
                folder.relative_to(self.root).as_posix()
                for folder in folders
                if self._reconcile_partition(folder, accepted, done)
            }
            if not listed <= catalog:
                save_catalog(self.root, catalog | listed)
        return done

    def _reconcile_partition(self, folder: Path, accepted: set[int], done: Reconciled) -> bool:
        """Quarantine the partition's files of batches not accepted; list unlisted accepted ones."""
        listed = load_manifest(folder) or {}
        kept = {name: entry for name, entry in listed.items() if entry.batch in accepted}
        for leftover in folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        for path in sorted(folder.glob("part-*.parquet")):
            relative = path.relative_to(self.root).as_posix()
            batch = part_batch(path.name)
            if path.name in kept:
                continue
            if batch is not None and batch in accepted and path.name not in listed:
                try:
                    kept[path.name] = describe(path, batch=batch)
                    done.adopted.append(relative)
                    continue
                except StoreFault:
                    pass
            target = self.root / QUARANTINE / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
            done.quarantined.append(relative)
        if kept != listed or (kept and not (folder / MANIFEST).exists()):
            save_manifest(folder, kept)
        return bool(kept)

    def read(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_id: str | None = None,
        through_batch: int | None = None,
    ) -> pd.DataFrame:
        """Events with ``start <= ts < end`` (of one campaign, or all), as their batch reported them.

        Only published files are read (of batches up to ``through_batch``, if given), each
        checked against its manifest: StoreFault when one is missing, corrupt or unreadable.
        An event_id's rows come from the first part file that holds it: rows repeated
        within one part are the platform's replays (kept, so claimed counts them);
        the same event_id in a later part is not counted again.
        """
        tables = [
            table.append_column("_part", pa.array(np.full(table.num_rows, i, dtype=np.int64)))
            for i, (path, entry) in enumerate(self._files(start, end, campaign_id, through_batch))
            if (table := self._read_part(path, entry)).num_rows
        ]
        if not tables:
            return pd.DataFrame()
        events = _as_frame(tables)
        ts = events["ts"].astype(TS_DTYPE)
        in_period = (ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))
        events = events.loc[in_period.to_numpy()]
        first_part = events.groupby("event_id", sort=False)["_part"].transform("min")
        events = events.loc[(events["_part"] == first_part).to_numpy()].drop(columns="_part")
        return events.sort_values(["ts", "event_id"], kind="stable", ignore_index=True)

    def verify(self) -> list[str]:
        """What is wrong with the published store (empty when every listed file is whole)."""
        try:
            partitions = sorted(load_catalog(self.root))
        except StoreFault as fault:
            return [fault.what]
        problems: list[str] = []
        for partition in partitions:
            try:
                self._listed(partition, through_batch=None)
            except StoreFault as fault:
                problems.append(fault.what)
        return problems

    def _read_part(self, path: Path, entry: PartFile) -> pa.Table:
        name = path.relative_to(self.root).as_posix()
        try:
            with pq.ParquetFile(path) as part:
                table = part.read()
        except (OSError, pa.ArrowException) as error:
            raise StoreFault(f"{name}: cannot be read ({type(error).__name__})") from None
        if table.num_rows != entry.rows:
            raise StoreFault(f"{name}: {table.num_rows} rows where its manifest says {entry.rows}")
        return table

    def _files(
        self, start: datetime, end: datetime, campaign_id: str | None, through_batch: int | None
    ) -> list[tuple[Path, PartFile]]:
        first, last = start.date(), end.date()
        folders = None if campaign_id is None else set(self._campaign_folder_names(campaign_id))
        files: list[tuple[Path, PartFile]] = []
        for partition in sorted(load_catalog(self.root)):
            campaign, _, day = partition.partition("/")
            if (folders is None or campaign in folders) and first <= _day(day) <= last:
                files.extend(self._listed(partition, through_batch=through_batch))
        return files

    def _listed(self, partition: str, *, through_batch: int | None) -> list[tuple[Path, PartFile]]:
        """The partition's listed files (of batches up to ``through_batch``), each checked."""
        folder = self.root / partition
        listed = load_manifest(folder)
        if listed is None:
            raise StoreFault(f"partition {partition} is missing (no manifest)")
        files = []
        for name, entry in sorted(listed.items()):
            if through_batch is None or entry.batch <= through_batch:
                self._checksums.check(folder / name, entry, name=f"{partition}/{name}")
                files.append((folder / name, entry))
        return files

    def _partition_folders(self) -> list[Path]:
        if not self.root.exists():
            return []
        campaigns = sorted([*self.root.glob("campaign=*"), *self.root.glob("campaign_id=*")])
        return [day for folder in campaigns for day in sorted(folder.glob("day=*"))]

    def _campaign_folder_names(self, campaign_id: str) -> list[str]:
        names = [partition_name(campaign_id)]
        if _LEGACY_NAME.match(campaign_id):
            names.append(f"campaign_id={campaign_id}")
        return names


class StoreLock:
    """Re-entrant within a process (its threads queue on an RLock), exclusive across the processes that
    share the store (``flock`` on a file in its root, taken by the outermost hold).

    Several service processes over one store: a batch another process committed is published
    before a holder reads the last batch id, so a detection run never reads a committed batch's
    files half published or not at all. A lock file that cannot be opened (the store's folder
    unreachable) leaves only the process's own lock: nothing can be published then anyway.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> StoreLock:
        self._thread.acquire()
        if self._depth == 0:
            try:
                self._fd = self._lock_file()
            except BaseException:
                self._thread.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread.release()

    def _lock_file(self) -> int | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd


def _as_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Part files' rows as one frame, in order: joined as Arrow and converted once when the parts have
    one schema (as ingest writes them), else converted one by one and joined by pandas.

    A conversion per part cost about 3 ms: a detection run over 111 parts of 11,052 events read them
    in 0.32 s, against 0.05 s (docs/benchmarks-archive.md, "Ingest and detection against 8f1b572").
    """
    first = tables[0].schema
    if all(table.schema.equals(first, check_metadata=True) for table in tables[1:]):
        return pa.concat_tables(tables).to_pandas()
    return pd.concat([table.to_pandas() for table in tables], ignore_index=True)


def staged_name(relative: str) -> str:
    """A staged file's name in its batch's staging folder: its path in the store, one path piece
    (partition names and part names hold no '~')."""
    return relative.replace("/", "~")


def _day(folder: str) -> date:
    return date.fromisoformat(folder.removeprefix("day="))
