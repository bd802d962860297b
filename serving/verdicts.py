"""A finished run's verdicts indexed for settling, and the hash of a period's input events.

Settling reads one campaign's slice of a run many times (once per period). The run's
verdicts are sorted once by ``(campaign_id, ts, event_id)`` and every event's hash line
is laid out in one contiguous buffer, so a settlement finds its window with two binary
searches and hashes it straight from that buffer, without re-reading, re-sorting or
re-formatting events. ``events_hash`` gives the same digest for the same events read
from the event store (the fail-safe path and detection runs use it).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detectors.policy import PostKeys, post_keys, unit_prices

HASHED_COLUMNS = ("event_id", "campaign_id", "post_id", "creator_id", "user_id", "action")
_CATEGORICAL = ("campaign_id", "post_id", "creator_id", "user_id", "action", "reason")
_SEP, _END = chr(0x1F), chr(0x0A)


@dataclass(frozen=True)
class _Lines:
    """Hash lines (columns joined by US, ts in ns, newline) back to back in ``data``.

    Line i is ``data[offsets[i]:offsets[i + 1]]``.
    """

    data: memoryview
    offsets: np.ndarray

    def digest(self, first: int, last: int) -> str:
        """SHA-256 of lines ``first`` to ``last - 1``."""
        if last <= first:
            return hashlib.sha256().hexdigest()
        return hashlib.sha256(self.data[int(self.offsets[first]) : int(self.offsets[last])]).hexdigest()

    def digest_kept(self, first: int, keep: np.ndarray) -> str:
        """SHA-256 of the lines ``first + i`` with ``keep[i]``, in order: one update per run of kept
        lines, straight from the buffer."""
        edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0])) + first
        digest = hashlib.sha256()
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            digest.update(self.data[int(self.offsets[a]) : int(self.offsets[b])])
        return digest.hexdigest()


def _lines(events: pd.DataFrame, ts_ns: np.ndarray) -> _Lines:
    parts = [_text(events[c]) for c in HASHED_COLUMNS]
    parts.append(pc.cast(pa.array(ts_ns, type=pa.int64()), pa.large_string()))
    joined = pc.binary_join_element_wise(*parts, pa.scalar(_SEP, pa.large_string()))
    empty = pa.scalar("", pa.large_string())
    terminated = pc.binary_join_element_wise(joined, empty, pa.scalar(_END, pa.large_string()))
    array = terminated.combine_chunks() if isinstance(terminated, pa.ChunkedArray) else terminated
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = memoryview(data_buffer) if data_buffer is not None else memoryview(b"")
    return _Lines(data=data, offsets=offsets)


def _order(events: pd.DataFrame, ts_ns: np.ndarray, *, by_campaign: bool) -> np.ndarray:
    """Row order by ``([campaign_id,] ts, event_id)``."""
    columns = {
        "ts": pa.array(ts_ns),
        "event_id": pa.array(events["event_id"].astype("str").to_numpy(dtype=object)),
    }
    keys = [("ts", "ascending"), ("event_id", "ascending")]
    if by_campaign:
        columns["campaign_id"] = pa.array(events["campaign_id"].astype("str").to_numpy(dtype=object))
        keys.insert(0, ("campaign_id", "ascending"))
    return np.asarray(pc.sort_indices(pa.table(columns), sort_keys=keys))


def events_hash(events: pd.DataFrame) -> str:
    """SHA-256 of a window's events: a line per distinct event (hashed columns, ts in ns), by (ts, event_id).

    A replay (the same event_id reported again) is one event: it adds no line.
    """
    if events.empty:
        return hashlib.sha256().hexdigest()
    events = events.drop_duplicates("event_id", keep="first")
    ts_ns = moments_ns(events["ts"])
    order = _order(events, ts_ns, by_campaign=False)
    return _lines(events.iloc[order], ts_ns[order]).digest(0, len(order))


@dataclass(frozen=True)
class Window:
    """A campaign's verdicts in a period, the hash of their events and each one's unit price.

    ``lines`` (from ``first`` on) are the verdicts' hash lines in the run's buffer, when the
    run's event ids are distinct (``events_hash`` drops a repeated id's later lines)."""

    verdicts: pd.DataFrame
    input_hash: str
    price: np.ndarray
    lines: _Lines | None = None
    first: int = 0
    ts_ns: np.ndarray | None = None  # the verdicts' times (ns since the epoch), when known
    keys: PostKeys | None = None  # the verdicts' posts (``detectors.policy.post_keys``), when known

    def without(self, drop: np.ndarray) -> Window:
        """The window without the rows ``drop`` marks, hashed as ``events_hash`` would hash them."""
        keep = ~drop
        kept = np.flatnonzero(keep)
        if len(kept) and kept[-1] - kept[0] + 1 == len(kept):  # one run of rows: a slice, not a take
            verdicts = self.verdicts.iloc[kept[0] : kept[-1] + 1].reset_index(drop=True)
        else:
            verdicts = self.verdicts.iloc[kept].reset_index(drop=True)
        digest = events_hash(verdicts) if self.lines is None else self.lines.digest_kept(self.first, keep)
        keys = None if self.keys is None else self.keys.take(keep)
        return Window(verdicts=verdicts, input_hash=digest, price=self.price[keep], keys=keys)


class RunVerdicts:
    """One finished run's verdicts sorted by ``(campaign_id, ts, event_id)`` with their hash lines.

    Id columns are categorical (the policy groups by their codes) and unit prices are
    kept per campaign and price table, so a window costs slices, not conversions.
    """

    def __init__(self, verdicts: pd.DataFrame) -> None:
        ts_ns = moments_ns(verdicts["ts"]) if len(verdicts) else np.zeros(0, dtype=np.int64)
        order = _order(verdicts, ts_ns, by_campaign=True) if len(verdicts) else np.zeros(0, dtype=np.int64)
        frame = verdicts.iloc[order].reset_index(drop=True)
        self._positions = order  # row i came from row positions[i] of ``verdicts``
        self.ts_ns = ts_ns[order]
        self.lines = _lines(frame, self.ts_ns) if len(order) else _Lines(memoryview(b""), np.zeros(1))
        campaigns = frame["campaign_id"].astype("str").to_numpy(dtype=object)
        starts: list[int] = (
            np.flatnonzero(np.r_[True, campaigns[1:] != campaigns[:-1]]).tolist() if len(campaigns) else []
        )
        bounds = [*starts, len(campaigns)]
        self._campaigns = {str(campaigns[a]): (int(a), int(b)) for a, b in pairwise(bounds)}
        for column in _CATEGORICAL:
            if column in frame.columns and len(frame):
                frame[column] = frame[column].astype("str").astype("category")
        self.frame = frame
        # each verdict's post, numbered once per run: a window's decision slices it (``decide_posts``)
        self.keys = post_keys(frame)
        self._prices: dict[tuple[str, str, float], np.ndarray] = {}
        # events_hash keeps an event_id's first line only: a window hashes from the buffer when unique
        ids = pa.array(frame["event_id"].astype("str").to_numpy(dtype=object)) if len(frame) else None
        self.unique_ids = ids is None or pc.count_distinct(ids).as_py() == len(ids)

    def campaign_ids(self) -> list[str]:
        """The campaigns the run has verdicts for."""
        return list(self._campaigns)

    def campaign_size(self, campaign_id: str) -> int:
        """How many verdicts the run has for the campaign."""
        low, high = self._campaigns.get(campaign_id, (0, 0))
        return high - low

    def in_given_order(self, campaign_id: str) -> bool:
        """Whether the campaign's verdicts keep the order they were given in (scoring's order)."""
        low, high = self._campaigns.get(campaign_id, (0, 0))
        return bool(np.all(np.diff(self._positions[low:high]) > 0))

    def window(
        self,
        campaign_id: str,
        start: datetime,
        end: datetime,
        *,
        prices: pd.DataFrame,
        default_unit_price: float,
    ) -> Window:
        """The campaign's verdicts with ``start <= ts < end``, their ``events_hash`` and unit prices."""
        low, high = self._campaigns.get(campaign_id, (0, 0))
        first, last = low + np.searchsorted(
            self.ts_ns[low:high], [moment_ns(start), moment_ns(end)], side="left"
        )
        key = (campaign_id, prices.to_json(), default_unit_price)
        price = self._prices.get(key)
        if price is None:
            mine = self.frame.iloc[low:high]
            price = self._prices[key] = unit_prices(mine, prices, default_unit_price=default_unit_price)
        return Window(
            verdicts=self.frame.iloc[first:last].reset_index(drop=True),
            input_hash=self.lines.digest(int(first), int(last)),
            price=price[first - low : last - low],
            lines=self.lines if self.unique_ids else None,
            first=int(first),
            ts_ns=self.ts_ns[first:last],
            keys=self.keys.take(slice(int(first), int(last))),
        )


class VerdictIndex:
    """A small LRU of ``RunVerdicts`` per run; finished runs never change."""

    def __init__(self, *, max_runs: int = 4) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, RunVerdicts] = OrderedDict()
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def get(self, run_id: str, verdicts: Callable[[], pd.DataFrame]) -> RunVerdicts:
        """The indexed verdicts of a run; ``verdicts`` reads the run's frame when it is not indexed yet."""
        with self._lock:
            if run_id in self._runs:
                self._runs.move_to_end(run_id)
                return self._runs[run_id]
        with self._build_lock:  # one build per run, however many settlements ask at once
            with self._lock:
                if run_id in self._runs:
                    return self._runs[run_id]
            built = RunVerdicts(verdicts())
            with self._lock:
                self._runs[run_id] = built
                while len(self._runs) > self.max_runs:
                    self._runs.popitem(last=False)
        return built


def _text(column: pd.Series) -> pa.Array:
    as_text = column if pd.api.types.is_string_dtype(column.dtype) else column.astype("str")
    return pc.cast(pa.array(as_text, from_pandas=True), pa.large_string())


def moments_ns(ts: pd.Series) -> np.ndarray:
    """Moments as int64 ns since the epoch (UTC)."""
    moments = pd.to_datetime(ts, utc=True)
    return np.asarray(moments.dt.as_unit("ns").astype("int64").to_numpy(), dtype=np.int64)


def moment_ns(moment: datetime) -> int:
    """A moment as int64 ns since the epoch (UTC)."""
    return int(pd.Timestamp(moment).tz_convert("UTC").as_unit("ns").value)
