"""Scoring a window with history: the engagements it reads, and the history prepared for it once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import START_COLUMN, history_start
from detectors.context import WindowContext
from detectors.history import (
    HISTORY_COLUMN,
    matched_categories,
    prepare_history,
    replayed_rows,
    window_of,
    with_history,
    with_prepared_history,
)
from detectors.lookback import (
    EVIDENCE_COLUMN,
    KEY_COLUMNS,
    MARK_COLUMNS,
    condensed,
    evidence_of,
    mark_evidence,
)
from detectors.params import ScoringParams
from detectors.policy import NOT_ACCOUNT_FAULT_REASONS
from detectors.registry import STRUCTURAL
from detectors.scorer.window import ScoredWindow, score_engagements
from features.arrays import codes, distinct

if TYPE_CHECKING:
    from detectors.fitted import FittedState


def score_window(
    events: pd.DataFrame,
    *,
    params: ScoringParams,
    posts: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    fitted: FittedState | None = None,
    history: pd.DataFrame | None = None,
    reputation: pd.DataFrame | None = None,
) -> ScoredWindow:
    """Score a window of clean events (a campaign x period, or several campaigns).

    ``fitted`` is a training run's fitted state (``detectors.fitted``); without it
    scoring is cold: the anomaly ensemble is fitted on the window itself.
    ``history`` (clean events from before the window, or a history prepared by
    ``prepare_scored_history``) is context: the detectors see it, the outputs
    cover only ``events`` (``detectors.history``); how much of it they see is
    ``params.history`` (``detectors.lookback``).
    ``reputation`` is the frame of known accounts ``known_seller`` reads
    (``detectors.reputation``); without it that detector finds nothing.
    """
    kwargs: dict[str, Any] = {
        "posts": posts,
        "campaigns": campaigns,
        "fitted": fitted,
        "reputation": reputation,
    }
    return score_engagements(
        history_engagements(events, history, params=params, **kwargs),
        params=params,
        progress=progress,
        **kwargs,
    )


def history_engagements(
    events: pd.DataFrame,
    history: pd.DataFrame | None,
    *,
    params: ScoringParams,
    **context: Any,
) -> pd.DataFrame:
    """The distinct engagements a window is scored on: its own, and the history it reads.

    ``history``: clean events, or ``prepare_scored_history``'s frame (kept from an
    earlier run; ``prepare_history``'s is read whole). ``params.history.mode``
    "exact" joins every history engagement (``detectors.history.with_history``);
    "condensed" joins what ``detectors.lookback`` keeps, scoring raw history first
    to find its evidence (``prepared_history``; ``context``: posts, campaigns, fitted,
    reputation, as ``score_engagements`` takes them, of which that reads the posts).
    """
    if history is None or history.empty:
        return with_history(events, None)
    is_prepared = HISTORY_COLUMN in history
    if params.history.mode == "exact":
        if not is_prepared:
            return with_history(events, history)
        return with_prepared_history(events, history.drop(columns=list(MARK_COLUMNS), errors="ignore"))
    prepared = (
        history if is_prepared else prepared_history(history, params=params, posts=context.get("posts"))
    )
    window = window_of(events)
    if EVIDENCE_COLUMN not in prepared:
        # nothing to condense: the prepared history is read whole
        return with_prepared_history(events, prepared, window=window)
    # condensing reads the window (and the raw copies of its replayed events), and the look-up of the key
    # columns' ids that joining needs serves condensing too
    matched = matched_categories(window, prepared, KEY_COLUMNS)
    # a replay whose values differ from its first copy's: condensing reads every copy's values and time
    replays = replayed_rows(events, window, (*KEY_COLUMNS, "ts"))
    kept = condensed(prepared, window, params=params.history, matched=matched, replays=replays)
    return with_prepared_history(events, kept, window=window, matched=matched)


def prepare_scored_history(history: pd.DataFrame, *, params: ScoringParams, **context: Any) -> pd.DataFrame:
    """``prepare_history(history)`` with the mark of its evidence (``detectors.lookback``).

    The history is scored as one window (``context`` as ``score_engagements`` takes
    it); a history engagement that a structural detector scored at least
    ``params.history.keep_score`` is evidence. It depends on the history alone: a
    run keeps it for the next, whose window it precedes.
    """
    prepared = prepare_history(history)
    scored = score_engagements(prepared.drop(columns=HISTORY_COLUMN), params=params, **context)
    names = STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS
    evidence = evidence_of(scored.detections, names, keep_score=params.history.keep_score)
    found = evidence if len(evidence) else np.zeros(len(prepared), dtype=bool)
    marked = mark_evidence(prepared, found, params=params.history)
    if params.history.seeded_audiences:
        marked[START_COLUMN] = _history_starts(prepared, params=params, posts=context.get("posts"))
    return marked


def _history_starts(
    prepared: pd.DataFrame, *, params: ScoringParams, posts: pd.DataFrame | None
) -> npt.NDArray[np.int64]:
    """Per prepared history row its creator unit's Louvain community in its platform's history
    (``detectors.audiences.history_start``), numbered apart per platform (-1: none)."""
    studios = WindowContext(prepared, posts=posts, fitted=None, audience=params.audience).studios()
    out = np.full(len(prepared), -1, dtype=np.int64)
    platform = (
        codes(prepared["platform"]) if "platform" in prepared else np.zeros(len(prepared), dtype=np.int64)
    )
    offset = 0
    for value in distinct(platform):
        rows = np.flatnonzero(platform == value)
        found = history_start(prepared.iloc[rows], studios=studios, params=params.audience)
        out[rows] = np.where(found >= 0, found + offset, -1)
        offset += int(found.max(initial=-1)) + 1
    return out


def prepared_history(
    history: pd.DataFrame, *, params: ScoringParams, posts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``history`` as every window scored under ``params`` reads it; what a run keeps for the next.

    ``history__mode`` "exact": ``prepare_history`` (its distinct engagements, reduced once);
    "condensed": ``prepare_scored_history`` (reduced, scored as one window, its evidence marked).
    It depends on the history, ``params`` and ``posts`` (``lockstep`` reads post times) alone:
    the marks are the structural detectors' scores, which read neither a window's fitted state,
    its reputation (``known_seller`` is weak) nor its campaigns (prices). ``serving.history_state``
    keeps it from run to run, keyed by exactly these.
    """
    if params.history.mode == "exact":
        return prepare_history(history)
    return prepare_scored_history(history, params=params, posts=posts)
