"""The event store: clean events as Parquet files partitioned by campaign and day."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.schema import TS_DTYPE

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_LEGACY_NAME = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.:-]{1,128}$")


def partition_name(campaign_id: str) -> str:
    """The folder of a campaign: a readable slug and a hash of the id, never the raw id.

    Whatever the id holds ('..', separators, NUL), the name is one plain path piece;
    the hash keeps ids that slug alike (``a/b`` and ``a_b``) apart.
    """
    digest = hashlib.sha256(campaign_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"campaign={_UNSAFE.sub('_', campaign_id)[:40]}-{digest}"


class EventStore:
    """Append-only partitioned Parquet: ``root/campaign=SLUG-HASH/day=YYYY-MM-DD/part-*.parquet``.

    Folders named ``campaign_id=C`` by earlier versions are still read, for ids that are plain names.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

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

    def append(self, events: pd.DataFrame, *, batch_id: str) -> list[Path]:
        """Write clean events into their partitions; returns the files written."""
        written: list[Path] = []
        days = events["ts"].dt.strftime("%Y-%m-%d")
        for (campaign_id, day), part in events.groupby([events["campaign_id"].astype("str"), days]):
            folder = self.root / partition_name(str(campaign_id)) / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{batch_id}-{uuid.uuid4().hex[:8]}.parquet"
            tmp = path.with_suffix(".tmp")
            part.to_parquet(tmp, index=False)
            tmp.replace(path)
            written.append(path)
        return written

    def read(self, *, start: datetime, end: datetime, campaign_id: str | None = None) -> pd.DataFrame:
        """Events with ``start <= ts < end`` (of one campaign, or all), as their batch reported them.

        An event_id's rows come from the first part file that holds it: rows repeated
        within one part are the platform's replays (kept, so claimed counts them);
        the same event_id in a later part (a part written twice after a failed
        commit) is not counted again.
        """
        frames = [
            pq.read_table(path).to_pandas().assign(_part=i)
            for i, path in enumerate(self._files(start, end, campaign_id))
        ]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        events = pd.concat(frames, ignore_index=True)
        ts = events["ts"].astype(TS_DTYPE)
        in_period = (ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))
        events = events.loc[in_period.to_numpy()]
        first_part = events.groupby("event_id", sort=False)["_part"].transform("min")
        events = events.loc[(events["_part"] == first_part).to_numpy()].drop(columns="_part")
        return events.sort_values(["ts", "event_id"], kind="stable", ignore_index=True)

    def _files(self, start: datetime, end: datetime, campaign_id: str | None) -> list[Path]:
        if not self.root.exists():
            return []
        wanted = {d.isoformat() for d in _days(start.date(), end.date())}
        folders = (
            self._campaign_folders(campaign_id)
            if campaign_id is not None
            else sorted([*self.root.glob("campaign=*"), *self.root.glob("campaign_id=*")])
        )
        files: list[Path] = []
        for folder in folders:
            for day_dir in sorted(folder.glob("day=*")):
                if day_dir.name.removeprefix("day=") in wanted:
                    files.extend(sorted(day_dir.glob("part-*.parquet")))
        return files

    def _campaign_folders(self, campaign_id: str) -> list[Path]:
        folders = [self.root / partition_name(campaign_id)]
        if _LEGACY_NAME.match(campaign_id):
            folders.append(self.root / f"campaign_id={campaign_id}")
        return folders


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
