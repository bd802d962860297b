"""Which of a window's events the engagement ledger holds, decided by the claims' times and batches.

A claim holds a campaign's stored events in ``[ts_start, ts_end)`` of batches
``(batch_after, batch_through]`` (``serving.db.claims``). The window's events were read from
batches up to ``through`` (a detection run's last batch), in time order, so a claimed piece
that begins at batch 0 and reaches ``through`` holds exactly the window's events in its time
range: a slice found by two binary searches, no event ids read. Only a piece that leaves some
of those batches out needs ids from the events' index, and only the few on the smaller side:

- a piece from batch 0 up to ``b < through`` holds its time range except the events of
  batches ``(b, through]`` (those that arrived after it: their ids are read and kept out);
- a piece of later batches (``batch_after > 0``, a claim of a late batch) holds the ids it
  reads of its own batches.

Events ``settled_engagements`` lists (the ledger before migration 0014) are matched by id and
belong to their listed settlement, as the claims' counts leave them out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from serving.db.claims import Ledger, Piece
from serving.verdicts import moment_ns

# the ids of the campaign's stored events in each box (``EventRepository.ids_in_pieces``)
IdReader = Callable[[Sequence[Piece]], list[set[str]]]


@dataclass(frozen=True)
class Held:
    """The rows of a window the ledger holds, how many distinct events they are, and by which
    settlements (sorted)."""

    rows: npt.NDArray[np.bool_]
    n_events: int
    by: tuple[str, ...]


def held_rows(
    ledger: Ledger,
    event_ids: pd.Series,
    ts_ns: np.ndarray,
    *,
    period: tuple[datetime, datetime],
    through: int,
    read_ids: IdReader,
    distinct: bool = False,
) -> Held:
    """Which rows (event_ids with their times in ns, of batches up to ``through``, inside
    ``period``) the ledger holds; ``distinct`` says the event ids are distinct (no count needed)."""
    if len(ts_ns) and np.any(ts_ns[1:] < ts_ns[:-1]):
        order = np.argsort(ts_ns, kind="stable")
        held = held_rows(
            ledger,
            event_ids.iloc[order].reset_index(drop=True),
            ts_ns[order],
            period=period,
            through=through,
            read_ids=read_ids,
            distinct=distinct,
        )
        rows = np.empty_like(held.rows)
        rows[order] = held.rows
        return Held(rows=rows, n_events=held.n_events, by=held.by)
    listed = ids_in(event_ids, ledger.listed) if ledger.listed else np.zeros(len(ts_ns), dtype=bool)
    rows = listed.copy()
    by = {ledger.listed[str(e)] for e in event_ids[listed].astype("str").unique()} if listed.any() else set()
    for (lo, hi), holder, in_span in _spans(ledger, event_ids, ts_ns, _Reading(period, through, read_ids)):
        in_span &= ~listed[lo:hi]
        if in_span.any():
            rows[lo:hi] |= in_span
            by.add(holder)
    n_events = int(rows.sum()) if distinct else int(event_ids[rows].nunique())
    return Held(rows=rows, n_events=n_events, by=tuple(sorted(by)))


@dataclass(frozen=True)
class _Reading:
    """The rows' period, the last batch they were read from, and how to read ids of boxes."""

    period: tuple[datetime, datetime]
    through: int
    read_ids: IdReader


def _spans(
    ledger: Ledger, event_ids: pd.Series, ts_ns: np.ndarray, reading: _Reading
) -> list[tuple[tuple[int, int], str, npt.NDArray[np.bool_]]]:
    """Per claimed piece that meets the rows: its rows' span, its settlement, and which rows of the
    span it holds."""
    period, through = reading.period, reading.through
    spans: list[tuple[tuple[int, int], str, Piece, bool]] = []  # ..., box to read, read ids are held
    for piece, holder in zip(ledger.taken, ledger.holders, strict=True):
        if piece.batch_after >= through:
            continue  # only batches the rows were not read from
        lo, hi = np.searchsorted(ts_ns, [moment_ns(piece.ts_start), moment_ns(piece.ts_end)], side="left")
        if hi <= lo:
            continue
        start, end = max(piece.ts_start, period[0]), min(piece.ts_end, period[1])
        if piece.batch_after > 0:
            box = Piece(start, end, piece.batch_after, min(piece.batch_through, through))
        else:  # the events of batches after the piece's, or none
            box = Piece(start, end, piece.batch_through, through)
        spans.append(((int(lo), int(hi)), holder, box, piece.batch_after > 0))
    boxes = [box for _, _, box, _ in spans if box.batch_after < box.batch_through]
    found = iter(reading.read_ids(boxes))
    out = []
    for (lo, hi), holder, box, read_are_held in spans:
        if box.batch_after >= box.batch_through:  # nothing to read: the piece holds its whole span
            out.append(((lo, hi), holder, np.ones(hi - lo, dtype=bool)))
            continue
        hit = ids_in(event_ids.iloc[lo:hi], next(found))
        out.append(((lo, hi), holder, hit if read_are_held else ~hit))
    return out


def ids_in(ids: pd.Series, keys: Collection[str]) -> npt.NDArray[np.bool_]:
    """Per row: ``keys`` holds its event_id (Arrow's hash look-up; pandas' ``isin`` of Arrow strings
    against a list compares in Python: 4.3 s for 232k ids against 116k)."""
    if not keys:
        return np.zeros(len(ids), dtype=bool)
    if isinstance(ids.dtype, pd.CategoricalDtype):
        hit = _in_keys(ids.cat.categories, keys)
        codes = ids.cat.codes.to_numpy()
        return np.where(codes >= 0, hit[np.maximum(codes, 0)], False)
    return _in_keys(ids.astype("str"), keys)


def _in_keys(values: pd.Series | pd.Index, keys: Collection[str]) -> npt.NDArray[np.bool_]:
    column = pa.array(values, from_pandas=True)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    found = pc.is_in(column, value_set=pa.array(list(keys), type=column.type))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
