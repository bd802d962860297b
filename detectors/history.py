"""History as context: earlier events scored beside a window, verdicts for the window's own only.

A window scored alone sees one slice of a seller's work: a pool that serves
different clients each week with a few orders each looks like chance inside
any one week. Scoring the window together with the platform's earlier events
lets every group test see the pool whole; the verdicts, money and accounts
that come out cover only the window's events (history is never re-decided or
re-paid). An engagement whose verdict leans on history says so in its evidence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionArray

from detectors.base import Detection
from features.arrays import categorical, codes, stable_order
from features.dedup import CATEGORICAL_COLUMNS, distinct_engagements, later_repeats

# marks the rows of a scored frame that are history (context), not the window
HISTORY_COLUMN = "is_history"
_DAY_US = 86_400 * 10**6


def with_history(events: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """Distinct engagements of ``events`` and ``history`` together, history rows marked.

    Both are clean contract events. The window's rows come first, in their own
    order; a history event whose event_id is also in ``events`` is the window's
    to decide and is dropped from history. Without history this is
    ``distinct_engagements(events)`` exactly (no mark column). A window event
    that re-counts an earlier history engagement is a re-count (``is_recount``):
    that engagement was already counted. The same frame as
    ``with_prepared_history(events, prepare_history(history))``, which a caller
    that keeps the prepared history from run to run builds without redoing it.
    """
    if history is None or history.empty:
        return distinct_engagements(events)
    if _is_plain(events, history):
        return with_prepared_history(events, prepare_history(history))
    return _joined(events, history)


def _is_plain(events: pd.DataFrame, history: pd.DataFrame) -> bool:
    """The two have the same columns, and no id column is categorical yet (as clean events come)."""
    return list(events.columns) == list(history.columns) and not any(
        isinstance(frame[column].dtype, pd.CategoricalDtype)
        for frame in (events, history)
        for column in CATEGORICAL_COLUMNS
        if column in frame
    )


def _joined(events: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``with_history`` by reducing the two together (any columns, any dtypes)."""
    union = pd.concat(
        [events.assign(**{HISTORY_COLUMN: False}), history.assign(**{HISTORY_COLUMN: True})],
        ignore_index=True,
    )
    # ids are numbered in order of first appearance: the window's take the first numbers
    event_codes = pd.factorize(union["event_id"])[0]
    n_window_ids = int(event_codes[: len(events)].max(initial=-1)) + 1
    is_new = event_codes[len(events) :] >= n_window_ids
    if not is_new.all():
        union = union.loc[np.r_[np.ones(len(events), dtype=bool), is_new]].reset_index(drop=True)
    return distinct_engagements(union)


def prepare_history(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` as every window scored with it reads it: its distinct engagements, marked as history.

    It depends on the history alone, so a caller scoring window after window
    with the same history (or a store that keeps it) prepares it once and joins
    each window to it with ``with_prepared_history``.
    """
    return distinct_engagements(history.assign(**{HISTORY_COLUMN: True}))


def with_prepared_history(
    events: pd.DataFrame,
    prepared: pd.DataFrame,
    *,
    window: pd.DataFrame | None = None,
    matched: dict[str, npt.NDArray[np.int64]] | None = None,
) -> pd.DataFrame:
    """``with_history(events, history)`` from ``prepared = prepare_history(history)`` (or rows of it).

    Only the window is reduced; the history's rows are taken as prepared (an id
    the window also reports is the window's: its history rows and their copies
    drop out), and its ids join the window's categories in the order the joint
    reduction would number them. Re-counts are found again over both, since a
    window event can make a history engagement the later of two. ``window``: the
    caller's ``window_of(events)``; ``matched``: per id column, the window's
    positions of ``prepared``'s categories (``matched_categories``), where the
    caller looked them up already.
    """
    if prepared.empty:
        return distinct_engagements(events)
    if window is None:
        window = window_of(events)
    is_new = _positions(prepared["event_id"].array, among=window["event_id"].array) < 0
    past = prepared if is_new.all() else prepared.loc[is_new]
    columns = window.columns[:-2].append(past.columns.difference(window.columns, sort=False))
    # a history mark the window lacks (``detectors.lookback``'s context) is False there, and stays a
    # bool column: one object per row would weigh more than the ids; an integer mark (the audience
    # search's start, ``detectors.audiences.START_COLUMN``) is -1 there
    window = window.assign(**_absent_marks(past, columns.difference(window.columns)))
    ids = [column for column in CATEGORICAL_COLUMNS if column in columns]
    union = pd.concat([window.drop(columns=ids), past.drop(columns=ids)], ignore_index=True)
    for column in ids:
        known = (matched or {}).get(column)
        union[column] = _joined_categories(_coded(window, column), _coded(past, column), known=known)
    union = union[[*columns, "copies", "is_recount"]]
    union["is_recount"] = later_repeats(union)
    return union


def _absent_marks(past: pd.DataFrame, columns: pd.Index) -> dict[str, bool | np.int64]:
    """Per history mark column of ``columns`` (bool or integer), its value on a window row."""
    marks: dict[str, bool | np.int64] = {}
    for column in columns:
        if past[column].dtype == bool:
            marks[column] = False
        elif pd.api.types.is_integer_dtype(past[column].dtype):
            marks[column] = np.int64(-1)
    return marks


def window_of(events: pd.DataFrame) -> pd.DataFrame:
    """The window's distinct engagements as ``with_prepared_history`` joins them (marked: not history)."""
    return distinct_engagements(events.assign(**{HISTORY_COLUMN: False}))


def replayed_rows(
    events: pd.DataFrame, window: pd.DataFrame, columns: tuple[str, ...]
) -> pd.DataFrame | None:
    """The rows of ``events`` that repeat an event id with a value of ``columns`` other than its first
    row's, which its ``window_of`` keeps (what the window's rows do not show); None when there are none."""
    if len(window) == len(events):
        return None
    replayed = window.loc[window["copies"].to_numpy() > 1]
    copies = events.loc[events["event_id"].isin(replayed["event_id"]).to_numpy(dtype=bool)]
    first = pd.Index(replayed["event_id"]).get_indexer(copies["event_id"])
    differs = np.zeros(len(copies), dtype=bool)
    for column in (c for c in columns if c in copies and c in replayed):
        mine = copies[column].to_numpy(dtype=object)
        theirs = replayed[column].to_numpy(dtype=object)[first]
        differs |= ~((mine == theirs) | (pd.isna(mine) & pd.isna(theirs)))
    return copies.loc[differs] if differs.any() else None


def matched_categories(
    window: pd.DataFrame, prepared: pd.DataFrame, columns: tuple[str, ...]
) -> dict[str, npt.NDArray[np.int64]]:
    """Per id column of ``columns`` categorical in both: the position of each of ``prepared``'s categories
    among ``window``'s, -1 where the window lacks it (one hash look-up that condensing and joining share)."""
    return {
        column: _positions(prepared[column].cat.categories.array, among=window[column].cat.categories.array)
        for column in columns
        if column in window
        and column in prepared
        and all(isinstance(frame[column].dtype, pd.CategoricalDtype) for frame in (window, prepared))
    }


def _joined_categories(
    first: tuple[npt.NDArray[np.int64], pd.Index],
    then: tuple[npt.NDArray[np.int64], pd.Index],
    *,
    known: npt.NDArray[np.int64] | None = None,
) -> pd.Categorical:
    """Coded values ``first`` then ``then`` (codes, categories), as factorizing them together codes them.

    A category of ``then`` that ``first`` lacks is numbered after ``first``'s, in
    order of its first row in ``then``; code -1 (missing) stays -1. ``known``: each
    of ``then``'s categories' position among ``first``'s (-1: absent), when looked up already.
    """
    (head_codes, head), (tail_codes, tail) = first, then
    first_row = np.full(len(tail), len(tail_codes), dtype=np.int64)
    shown = np.flatnonzero(tail_codes >= 0)
    # assigning backwards leaves each category's first row
    first_row[tail_codes[shown[::-1]]] = shown[::-1]
    # only the categories some row uses are looked up: a condensed history keeps every category of
    # the history it was cut from, about half of them on no kept row
    used = np.flatnonzero(first_row < len(tail_codes))
    at = np.full(len(tail), -1, dtype=np.int64)
    if known is not None and len(known) == len(tail):
        at[used] = known[used]
    else:
        at[used] = _positions(tail.array if len(used) == len(tail) else tail.array[used], among=head.array)
    added = used[at[used] < 0]
    added = added[stable_order(first_row[added])]
    at[added] = len(head) + np.arange(len(added))
    # code -1 picks the appended -1
    tail_in_union = np.r_[at, -1][tail_codes]
    # distinct by construction: ``tail[added]`` holds none of ``head``
    return categorical(np.concatenate([head_codes, tail_in_union]), head.append(tail[added]))


def _positions(
    values: ExtensionArray | np.ndarray, *, among: ExtensionArray | np.ndarray
) -> npt.NDArray[np.int64]:
    """Per value: its position in ``among`` (distinct values), -1 where absent (Arrow's hash lookup)."""
    found = pc.index_in(pa.array(values), value_set=pa.array(among))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _coded(frame: pd.DataFrame, column: str) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """The codes and categories of a categorical column; all missing where the frame lacks it."""
    if column not in frame:
        return np.full(len(frame), -1, dtype=np.int64), pd.Index([], dtype="str")
    values = frame[column]
    return values.cat.codes.to_numpy().astype(np.int64), values.cat.categories


def history_rows(engagements: pd.DataFrame) -> npt.NDArray[np.bool_] | None:
    """Per row: it is history (context only); None when the frame holds no history."""
    if HISTORY_COLUMN not in engagements:
        return None
    rows = engagements[HISTORY_COLUMN].to_numpy(dtype=bool)
    return rows if rows.any() else None


def sliced_accounts(engagements: pd.DataFrame, *, slice_days: int) -> pd.DataFrame:
    """``engagements`` as audience inference sees them: with history, one account per time slice.

    An audience community (interest, region, language) shows in any week: its
    users keep co-engaging its creators. A seller's book is tied only by the
    orders its pool served, a few each week; over weeks of history those pile up
    until the book looks like an insular audience and the pool test measures
    chance inside it. Counting an account in each ``slice_days`` slice (counted
    back from the window's end) as a separate account keeps the audiences what a
    week shows. Without history rows, or with ``slice_days`` 0, the frame is returned as it is.
    """
    if slice_days <= 0 or history_rows(engagements) is None:
        return engagements
    ts_us = engagements["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    slice_index = (ts_us.max() - ts_us) // (slice_days * _DAY_US)
    users = codes(engagements["user_id"])
    key = np.where(users >= 0, users * (int(slice_index.max()) + 1) + slice_index, -1)
    return engagements.assign(user_id=pd.Categorical.from_codes(*_dense(key)))


def _dense(key: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """Codes 0..k-1 of the non-negative keys (-1 stays -1) and their categories."""
    present = np.unique(key[key >= 0])
    code = np.where(key >= 0, np.searchsorted(present, key), -1)
    return code, pd.Index(present)


def window_rows(is_history: npt.NDArray[np.bool_]) -> slice | npt.NDArray[np.bool_]:
    """The window's rows of a frame scored with history: the first ones as a slice when they come
    first (``with_history`` puts them there; a slice takes no gather), else the mask."""
    n_window = int(len(is_history) - is_history.sum())
    return slice(0, n_window) if not is_history[:n_window].any() else ~is_history


def own_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """The window's rows of a frame scored with history, each id column's categories cut to the ones its
    rows use (in place; the frame is returned).

    The joint numbering gives the window's ids the first codes (``with_prepared_history``), so what goes
    is the history's trailing ids and every code stays as it was. Grouping the window's rows by an id
    (accounts, posts) then hashes the window's ids only, not the history's too.
    """
    for column in CATEGORICAL_COLUMNS:
        if column not in frame or not isinstance(frame[column].dtype, pd.CategoricalDtype):
            continue
        values = frame[column].cat
        row_codes = values.codes.to_numpy()
        used = int(row_codes.max(initial=-1)) + 1
        if used < len(values.categories):
            frame[column] = categorical(row_codes, values.categories[:used])
    return frame


def window_only(detection: Detection, keep: slice | npt.NDArray[np.bool_]) -> Detection:
    """The detection restricted to the window's rows (its groups stay whole). Copies, so that the
    arrays of the window and its history go once the window's are taken."""
    return Detection(
        detection.name,
        detection.event_score[keep].copy(),
        detection.event_group[keep].copy(),
        detection.groups,
    )


def history_evidence(
    verdicts: pd.DataFrame,
    detections: list[Detection],
    engagements: pd.DataFrame,
    is_history: npt.NDArray[np.bool_],
    *,
    min_caught_score: float,
) -> pd.Categorical:
    """The window's verdicts' evidence, with what history added for each account judged with it.

    ``verdicts``: the window's rows only (``combine`` is row by row, so the history's rows need
    none); ``detections`` and ``engagements``: every row. For an invalid window engagement
    explained by a detector's group, the account's history engagements caught in the same group
    (score at least ``min_caught_score``) are counted: "with history: the account engaged 11 posts
    of this group in the previous 19 days" (context after the window, as a service run reads it,
    is "in the 19 days around this window").
    """
    evidence = pd.Categorical(verdicts["evidence"])
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    ts_us = engagements["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    window_start = ts_us[~is_history].min(initial=np.iinfo(np.int64).max)
    # the union's position of each window row
    window_at = np.flatnonzero(~is_history)
    reason = pd.Categorical(verdicts["reason"])
    invalid = verdicts["invalid"].to_numpy(dtype=bool)
    rows: list[npt.NDArray[np.int64]] = []
    texts: list[str] = []
    for detection in detections:
        if detection.name not in reason.categories:
            continue
        named = reason.codes == reason.categories.get_loc(detection.name)
        group = detection.event_group
        # window rows (``verdicts``' positions), then the same as the union's
        chosen_here = np.flatnonzero(invalid & named & (group[window_at] >= 0))
        chosen = window_at[chosen_here]
        past = np.flatnonzero(is_history & (group >= 0) & (detection.event_score >= min_caught_score))
        if len(chosen) == 0 or len(past) == 0:
            continue
        found = _in_group_before(chosen, past, group=group, users=users, posts=posts, ts_us=ts_us)
        hit = found["n_posts"].notna().to_numpy()
        n_posts = found["n_posts"].to_numpy()[hit].astype(np.int64)
        first, last = found["first_us"].to_numpy()[hit], found["last_us"].to_numpy()[hit]
        days = np.maximum(
            np.ceil((np.maximum(last, window_start) - np.minimum(first, window_start)) / _DAY_US), 1
        )
        rows.append(chosen_here[hit])
        base = np.asarray(evidence.categories, dtype=object)[evidence.codes[chosen_here[hit]]]
        texts.extend(
            f"{text}; with history: the account engaged {n} post{'s' if n != 1 else ''} of this group "
            + (f"in the previous {_days(d)}" if before else f"in the {_days(d)} around this window")
            for text, n, d, before in zip(base, n_posts, days, last < window_start, strict=True)
        )
    return _with_texts(evidence, np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64), texts)


def _in_group_before(
    chosen: npt.NDArray[np.int64],
    past: npt.NDArray[np.int64],
    *,
    group: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    ts_us: npt.NDArray[np.int64],
) -> pd.DataFrame:
    """Per row of ``chosen``: its account's rows of ``past`` in its group, counted (``n_posts``
    distinct posts, ``first_us``, ``last_us``; missing where there are none)."""
    width = int(group.max()) + 1
    wanted = users[chosen] * width + group[chosen]
    # only the (account, group) pairs of the chosen rows are counted
    past = past[pd.Series(users[past] * width + group[past], copy=False).isin(wanted).to_numpy()]
    seen = pd.DataFrame({"key": users[past] * width + group[past], "post": posts[past], "ts": ts_us[past]})
    per_key = seen.groupby("key").agg(
        n_posts=("post", "nunique"), first_us=("ts", "min"), last_us=("ts", "max")
    )
    return per_key.reindex(wanted)


def _days(n: float) -> str:
    return f"{int(n)} day{'s' if n != 1 else ''}"


def _with_texts(labels: pd.Categorical, rows: npt.NDArray[np.int64], texts: list[str]) -> pd.Categorical:
    """``labels`` with ``texts`` at ``rows``, new texts added as categories (no string per row built)."""
    if len(rows) == 0:
        return labels
    categories = labels.categories.append(pd.Index(texts).unique().difference(labels.categories))
    new_codes = labels.codes.astype(np.int64)  # a copy
    new_codes[rows] = categories.get_indexer(pd.Index(texts))
    return pd.Categorical.from_codes(new_codes, categories=categories)
