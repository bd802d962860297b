"""History condensed to what the window's verdicts need: its evidence, its last day, its re-counts,
and honest context in proportion.

Scoring a window with the whole history (``mode="exact"``) re-runs every group
test on the union of history and window, so 3 weeks of history cost about four
times what the window alone costs (docs/detection.md, "Cut and cost"). The
history has been scored already: each of its weeks was some run's window. What a
group test of the window needs from it is the structure that run found, and the
honest engagement its chance is measured against, not every row:

- evidence: history engagements a structural detector scored at least
  ``keep_score`` (a pool's, a ring's or a farm's, and what spread from their
  accounts), and every engagement of a post mostly evidence (``post_share``). A
  pool split across weeks shows in the history scored as one window; kept, its
  history engagements link the window's accounts to it;
- the last ``recent_days`` before the window, whole (co-timed groups that
  straddle the cut), and the history engagements the window reports again (so
  that its re-counts are still found);
- honest context: every engagement of the window's own accounts (an account's
  other creators are what the pool test's membership is measured against) and of
  a ``sample_share`` of accounts drawn by a hash of their id. Without it the
  evidence outweighs what is left of honest history, and chance explains the
  pools away. Only the detectors of ``context_for`` read these rows. With
  ``context_rows_per_account`` (off by default) each account's honest context is
  its latest rows only, enough to keep a heavy account heavy for the pool test.

The marks that depend on the history alone (``mark_evidence``) are made once and
kept from run to run, as ``prepare_history`` is; the rest is taken per window
(``condensed``) by hash look-ups. An approximation: verdicts may differ from
``exact`` (measured in docs/detection.md, "History condensed").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detectors.base import Detection

# a prepared history's column: the history engagement carries structural evidence
EVIDENCE_COLUMN = "has_evidence"
# a prepared history's column: the engagement's account is in the hashed sample of honest context
SAMPLE_COLUMN = "in_sample"
# a prepared history's column (with ``context_rows_per_account``): how many of its account's history
# engagements are later than it (0: the account's latest)
RECENCY_COLUMN = "account_recency"
# the marks ``mark_evidence`` adds; what reads a prepared history whole drops them
MARK_COLUMNS = (EVIDENCE_COLUMN, SAMPLE_COLUMN, RECENCY_COLUMN)
# a condensed history's column: the row is honest context only (the sample, the window's accounts),
# read by the detectors of ``HistoryParams.context_for``
CONTEXT_COLUMN = "is_context"
MODES = ("exact", "condensed")


@dataclass(frozen=True)
class HistoryParams:
    """How a window reads its history (``detectors.lookback``)."""

    # "exact": every history engagement joins the window; "condensed": its evidence, last days, re-counts
    mode: str = "exact"
    # every history engagement of this many days before the window's first event is kept
    recent_days: float = 1.0
    # a history engagement a structural detector scored at least this is evidence
    keep_score: float = 0.2
    # a history post with at least this share of its engagements evidence keeps them all (a group's post)
    post_share: float = 0.2
    # a share of the history's accounts (drawn by their id) keeps all its engagements: honest context
    sample_share: float = 0.2
    # every history engagement of the window's own accounts is kept
    window_accounts: bool = True
    # detectors that read only the window and the history's last ``recent_days`` (co-timed groups are
    # minutes wide). Empty: lockstep alone there cost bot_camouflage recall (seed 7 0.91 -> 0.81) and
    # the farms too more (docs/detection.md, "History condensed")
    recent_only: tuple[str, ...] = ()
    # detectors that read the honest context rows; the others read the window, the evidence, the last
    # day and the re-counts only. The pool and the farms measure chance from honest engagement (without
    # it seed 4 lost 0.03 AP); dense_block, ring and lockstep lose little there (docs/detection.md)
    context_for: tuple[str, ...] = ("pool", "ip_farm", "device_farm")
    # honest context keeps each account's latest this many history engagements (0, off: all of them);
    # above the pool's ``max_posts`` (12) a heavy account stays heavy. Off: the context is many light
    # accounts, so 16 keeps 62% of the history at 1M + 3M against 68% and 8 costs seed 23 0.07 AP
    # (docs/detection.md, "History condensed", condense13)
    context_rows_per_account: int = 0
    # the detectors that read the core rows (not ``context_for``; dense_block is the one that reads
    # audiences) take each platform's audience communities found on all the rows (the pool's), not
    # found again on the core rows: one Louvain search per platform less, about 6% of a 1M + 3M run's CPU;
    # off: 114 65k history worlds identical or better, but aged accounts -0.016 on one of 17 330k ones
    # (docs/journal/session-15.md, hist15)
    core_union_audiences: bool = False
    # the kept history carries each history row's Louvain community of its creator unit in the history's
    # own unit graph (``detectors.audiences.START_COLUMN``, found when the state is built); every audience
    # search of a window scored with it starts from those communities (units with no history row alone)
    # and never splits one: Louvain runs on tens of groups, not thousands of units (docs/journal/,
    # hist16)
    seeded_audiences: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"history mode must be one of {', '.join(MODES)}, not {self.mode!r}")


def evidence_of(
    detections: Sequence[Detection], names: frozenset[str], *, keep_score: float
) -> npt.NDArray[np.bool_]:
    """Per engagement of a scored history: a detector of ``names`` scored it at least ``keep_score``."""
    kept: npt.NDArray[np.bool_] | None = None
    for detection in detections:
        if detection.name in names:
            hit = detection.event_score >= keep_score
            kept = hit if kept is None else kept | hit
    return kept if kept is not None else np.zeros(0, dtype=bool)


def mark_evidence(
    prepared: pd.DataFrame, evidence: npt.NDArray[np.bool_], *, params: HistoryParams
) -> pd.DataFrame:
    """``prepared`` (``prepare_history``) with its mark of what windows read, row for row.

    Marked: the ``evidence`` rows; every row of a post with at least
    ``post_share`` of its history engagements evidence (a group's post: an account
    whose one history engagement of the group was too little to judge it then
    still links to the group when the window shows more of it); and every row of a
    ``sample_share`` of the accounts, drawn by a hash of the account id (the same
    accounts in every run), so that chance models still see honest history in its
    proportions: a pool's share of honest engagement, a community's mixing.
    """
    if len(evidence) != len(prepared):
        raise ValueError("one evidence mark per prepared history engagement")
    post = prepared["post_id"].cat.codes.to_numpy().astype(np.int64)
    known = post >= 0
    n_posts = len(prepared["post_id"].cat.categories)
    rows = np.bincount(post[known], minlength=n_posts)
    hits = np.bincount(post[known & evidence], minlength=n_posts)
    group_post = (hits > 0) & (hits >= params.post_share * np.maximum(rows, 1))
    marked = evidence | (known & group_post[np.maximum(post, 0)])
    marks: dict[str, npt.NDArray[np.generic]] = {
        EVIDENCE_COLUMN: marked,
        SAMPLE_COLUMN: _sampled(prepared["user_id"], params.sample_share),
    }
    if params.context_rows_per_account > 0:
        marks[RECENCY_COLUMN] = _recency(prepared)
    return prepared.assign(**marks)


def _recency(prepared: pd.DataFrame) -> npt.NDArray[np.int32]:
    """Per history row: how many of its account's rows are later (ties by row order)."""
    account = prepared["user_id"].cat.codes.to_numpy().astype(np.int64)
    ts = prepared["ts"].dt.as_unit("us").astype(np.int64).to_numpy()
    # latest first within each account
    order = np.lexsort((-ts, account))
    sorted_account = account[order]
    starts = np.r_[True, sorted_account[1:] != sorted_account[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    recency = np.empty(len(order), dtype=np.int32)
    recency[order] = np.arange(len(order)) - first
    return recency


def _sampled(accounts: pd.Series, share: float) -> npt.NDArray[np.bool_]:
    """Per row: its account is among a ``share`` of accounts drawn by a hash of the id."""
    if share <= 0:
        return np.zeros(len(accounts), dtype=bool)
    drawn = pd.util.hash_array(np.asarray(accounts.cat.categories, dtype=object)) < np.uint64(share * 2.0**64)
    account = accounts.cat.codes.to_numpy().astype(np.int64)
    return (account >= 0) & np.r_[drawn, False][account]


def condensed(
    prepared: pd.DataFrame,
    events: pd.DataFrame,
    *,
    params: HistoryParams,
    matched: dict[str, npt.NDArray[np.int64]] | None = None,
    replays: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows of a marked prepared history the window ``events`` reads (see the module's docstring).

    The marks are dropped; without them every row is kept (the history was not scored). Rows kept
    only as honest context (the sample, the window's accounts) carry ``CONTEXT_COLUMN``. ``matched``:
    per column of ``KEY_COLUMNS``, the position of each of ``prepared``'s categories among those of
    ``events``' (categorical) column (``detectors.history.matched_categories``): the window's values
    are then read from it, not looked up again. ``replays``: with ``events`` the window's distinct
    engagements (``detectors.history.window_of``), the raw events it does not show: copies of a
    replayed event id with other key values or another time (``detectors.history.replayed_rows``).
    What is kept depends only on the set of the events' key values and their first time, so the same
    rows are kept as from the raw events.
    """
    if EVIDENCE_COLUMN not in prepared:
        return prepared
    reasons = kept_by_reason(prepared, events, params=params, matched=matched, replays=replays)
    core = reasons["evidence"] | reasons["last_days"] | reasons["recounts"]
    context = reasons["window_accounts"] | reasons["sample"]
    if RECENCY_COLUMN in prepared and params.context_rows_per_account > 0:
        context &= prepared[RECENCY_COLUMN].to_numpy() < params.context_rows_per_account
    keep = core | context
    kept = prepared.loc[keep].drop(columns=list(MARK_COLUMNS), errors="ignore").reset_index(drop=True)
    kept[CONTEXT_COLUMN] = ~core[keep]
    return kept


def kept_by_reason(
    prepared: pd.DataFrame,
    events: pd.DataFrame,
    *,
    params: HistoryParams,
    matched: dict[str, npt.NDArray[np.int64]] | None = None,
    replays: pd.DataFrame | None = None,
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per reason a marked prepared history's row may be kept for the window ``events`` (``condensed``,
    whose arguments these are), whether it holds: "evidence", "last_days", "recounts" (what every
    detector reads), "window_accounts" and "sample" (honest context), before the context's cap."""
    no = np.zeros(len(prepared), dtype=bool)
    reasons = {
        "evidence": prepared[EVIDENCE_COLUMN].to_numpy(dtype=bool),
        "last_days": no,
        "recounts": no,
        "window_accounts": no,
        "sample": prepared[SAMPLE_COLUMN].to_numpy(dtype=bool),
    }
    if not len(events):
        return reasons
    first = events["ts"].min()
    if replays is not None and len(replays):
        first = min(first, replays["ts"].min())
    reasons["last_days"] = (prepared["ts"] >= first - pd.Timedelta(days=params.recent_days)).to_numpy()
    found = {column: _found_codes(prepared, events, column, matched, replays) for column in KEY_COLUMNS}
    reasons["recounts"] = _reported_again(prepared, found)
    if params.window_accounts:
        reasons["window_accounts"] = _of_accounts(prepared["user_id"], found["user_id"])
    return reasons


# the columns of an engagement's key (a re-count reports the same again under a new event id)
KEY_COLUMNS = ("user_id", "post_id", "action")


def _history_codes(prepared: pd.DataFrame, events: pd.DataFrame, column: str) -> npt.NDArray[np.int64] | None:
    """Per window event: the code of its ``column`` value among the history's categories, -1 where the
    history never saw it (Arrow's hash look-up, on the column's own Arrow strings where it has them);
    None where either lacks the column."""
    if column not in prepared or column not in events:
        return None
    values = events[column]
    arrow = (
        pa.array(np.asarray(values, dtype=object))
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object
        else pa.array(values.array)
    )
    found = pc.index_in(arrow, value_set=pa.array(prepared[column].cat.categories))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _found_codes(
    prepared: pd.DataFrame,
    events: pd.DataFrame,
    column: str,
    matched: dict[str, npt.NDArray[np.int64]] | None,
    replays: pd.DataFrame | None,
) -> npt.NDArray[np.int64] | None:
    """Per window event (and per row of ``replays``, after them): the code of its ``column`` value among
    the history's categories, -1 where the history never saw it; None where either lacks the column.
    Read through ``matched`` where the caller looked the window's categories up (``condensed``)."""
    if matched is None or column not in matched:
        return _history_codes(prepared, events, column)
    found = _matched_codes(events[column], matched[column])
    more = _history_codes(prepared, replays, column) if replays is not None and len(replays) else None
    return found if more is None else np.concatenate([found, more])


def _matched_codes(values: pd.Series, known: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per window event (``values`` categorical): the code of its value among the history's categories,
    -1 where the history never saw it; ``known``: each history category's position among ``values``'."""
    history_code = np.full(len(values.cat.categories) + 1, -1, dtype=np.int64)
    hit = np.flatnonzero(known >= 0)
    history_code[known[hit]] = hit
    # code -1 (missing) picks the appended -1
    return history_code[values.cat.codes.to_numpy().astype(np.int64)]


def _of_accounts(accounts: pd.Series, window_codes: npt.NDArray[np.int64] | None) -> npt.NDArray[np.bool_]:
    """Per history row (``accounts`` categorical): its account engaged in the window (``window_codes``:
    the window's accounts as codes of ``accounts``, ``_history_codes``)."""
    seen = np.zeros(len(accounts.cat.categories) + 1, dtype=bool)
    if window_codes is not None:
        seen[window_codes[window_codes >= 0]] = True
    return seen[accounts.cat.codes.to_numpy().astype(np.int64)]


def _reported_again(
    prepared: pd.DataFrame, found: dict[str, npt.NDArray[np.int64] | None]
) -> npt.NDArray[np.bool_]:
    """Per history row: the window has an event of the same user, post and action (integer keys in the
    history's own codes; ``found``: the window's values as those codes, ``_history_codes``)."""
    window_codes = [codes for column in KEY_COLUMNS if (codes := found[column]) is not None]
    past_key = np.zeros(len(prepared), dtype=np.int64)
    if len(window_codes) < len(KEY_COLUMNS):
        return past_key > 0
    now_key = np.zeros(len(window_codes[0]), dtype=np.int64)
    for column, now_codes in zip(KEY_COLUMNS, window_codes, strict=True):
        width = len(prepared[column].cat.categories) + 1
        past_key = past_key * width + prepared[column].cat.codes.to_numpy().astype(np.int64) + 1
        # -1: a value the history never saw, so no history engagement it reports again
        now_key = np.where((now_key >= 0) & (now_codes >= 0), now_key * width + now_codes + 1, -1)
    # a hash look-up (pandas' isin): np.isin sorts both, several times slower at millions of rows
    return np.asarray(pd.Series(past_key, copy=False).isin(now_key[now_key >= 0]).to_numpy(), dtype=bool)
