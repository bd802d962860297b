"""Batch scoring: contract files in, contract outputs out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from detectors.model import WindowScorer
from detectors.reputation import known_for
from detectors.scorer import ScoredWindow, prepared_history
from features.contract import Cleaned, empty_rejects
from serving.history_state import (
    HistoryState,
    HistoryStateError,
    PreparedHistory,
    files_key,
    load_or_build,
)
from serving.io import read_campaigns, read_events_from, read_posts, write_parquet, write_scored
from serving.reputation_file import read_reputation

# where a run with history writes the history's rejected rows (apart from the window's)
HISTORY_REJECTS = "history_rejects.parquet"
# where a run with a reputation file writes that file's rejected rows
REPUTATION_REJECTS = "reputation_rejects.parquet"


@dataclass(frozen=True)
class BatchResult:
    """What a batch run read, rejected and decided, and where it wrote it."""

    scored: ScoredWindow
    rejects: pd.DataFrame
    n_rows_read: int
    out_dir: Path
    # history read as context: its rejected rows (apart) and how many of its events were kept
    history_rejects: pd.DataFrame | None = None
    n_history_events: int = 0
    # a reputation file read: its rejected rows (apart) and how many of its entries were kept
    reputation_rejects: pd.DataFrame | None = None
    n_reputation_entries: int = 0
    # the history state read or built (``serving.history_state``); None without ``history_state``
    history_state: HistoryState | None = None


def run_batch(
    *,
    events_path: Path,
    out_dir: Path,
    posts_path: Path | None = None,
    campaigns_path: Path | None = None,
    scorer: WindowScorer,
    progress: Callable[[str], None] | None = None,
    history_paths: Sequence[Path] = (),
    reputation_path: Path | None = None,
    half_life_days: float | None = None,
    history_state: Path | None = None,
) -> BatchResult:
    """Read, clean, score and write one window; rejected rows go to ``rejects.parquet``.

    ``history_paths`` (files or partitioned folders of earlier events, same
    contract) are context: scored beside the window, never in its outputs; their
    rejected rows go to ``history_rejects.parquet``. ``history_state``: a folder that
    keeps the history prepared for this scorer from run to run (``serving.history_state``).
    ``reputation_path`` is a reputation file (``serving.reputation_file``): what it
    established before the window (runs' entries before the history, as the service reads
    them) is ``known_seller`` evidence, decayed with ``half_life_days``; its rejected rows
    go to ``reputation_rejects.parquet``.
    """
    notify = progress or (lambda _step: None)
    notify("read")
    reputation = _reputation_entries(reputation_path, half_life_days=half_life_days)
    entries = reputation.frame if reputation is not None else None
    events = read_events_from([events_path])
    rejects = [events.rejects]
    n_rows_read = len(events.frame) + len(events.rejects.drop_duplicates(["source_file", "source_row"]))
    campaigns = _side_file(read_campaigns, campaigns_path, rejects)
    posts = _side_file(read_posts, posts_path, rejects)
    history, state = _history(history_paths, history_state, scorer=scorer, posts=posts, posts_path=posts_path)
    known = _known(events.frame, history, entries, half_life_days=half_life_days or 0.0)
    context: dict[str, Any] = {"posts": posts, "campaigns": campaigns, "reputation": known}
    engagements = scorer.with_history(events.frame, history.frame if history is not None else None, **context)
    # the raw rows and the history are no longer needed: a large window's two copies never coexist
    del events
    history = replace(history, frame=pd.DataFrame()) if history is not None else None
    state = replace(state, prepared=history) if state is not None and history is not None else state
    scored = scorer.score_engagements(engagements, progress=notify, **context)
    notify("write")
    all_rejects = _write(scored, rejects, history, reputation, out_dir=out_dir)
    return BatchResult(
        scored=scored,
        rejects=all_rejects,
        n_rows_read=n_rows_read,
        out_dir=out_dir,
        history_rejects=history.rejects if history is not None else None,
        n_history_events=history.n_events if history is not None else 0,
        reputation_rejects=reputation.rejects if reputation is not None else None,
        n_reputation_entries=len(entries) if entries is not None else 0,
        history_state=state,
    )


def _history(
    paths: Sequence[Path],
    state_path: Path | None,
    *,
    scorer: WindowScorer,
    posts: pd.DataFrame | None,
    posts_path: Path | None,
) -> tuple[PreparedHistory | None, HistoryState | None]:
    """The history a run reads: its clean events, or with ``state_path`` the history prepared for
    ``scorer`` (``serving.history_state``), read from there or built and kept there."""
    if state_path is not None and not paths:
        raise HistoryStateError("a history state needs the history it is built from (--history)")
    if not paths:
        return None, None
    if state_path is None:
        cleaned = read_events_from(paths)
        return _as_prepared(cleaned.frame, cleaned), None
    params = scorer.params
    key = files_key(paths, scorer, posts_path=posts_path)

    def build() -> PreparedHistory:
        cleaned = read_events_from(paths)
        frame = prepared_history(cleaned.frame, params=params, posts=posts)
        return _as_prepared(frame, cleaned)

    state = load_or_build(state_path, key, build)
    return state.prepared, state


def _as_prepared(frame: pd.DataFrame, cleaned: Cleaned) -> PreparedHistory:
    """``frame`` (the history's clean events, or those prepared) with the history's counts."""
    events = cleaned.frame
    return PreparedHistory(
        frame=frame,
        rejects=cleaned.rejects,
        n_events=len(events),
        first_ts=events["ts"].min() if len(events) else None,
    )


def _write(
    scored: ScoredWindow,
    rejects: list[pd.DataFrame],
    history: PreparedHistory | None,
    reputation: Cleaned | None,
    *,
    out_dir: Path,
) -> pd.DataFrame:
    """Write the window's outputs and every file's rejects; the window's rejects, all in one frame."""
    all_rejects = pd.concat([r for r in rejects if not r.empty] or [empty_rejects()], ignore_index=True)
    write_scored(scored, out_dir)
    write_parquet(all_rejects, out_dir / "rejects.parquet")
    if history is not None:
        write_parquet(history.rejects, out_dir / HISTORY_REJECTS)
    if reputation is not None:
        write_parquet(reputation.rejects, out_dir / REPUTATION_REJECTS)
    return all_rejects


def _side_file(
    read: Callable[[Path], Cleaned], path: Path | None, rejects: list[pd.DataFrame]
) -> pd.DataFrame | None:
    """A posts or campaigns file's accepted rows (None: no file); its rejects are added to ``rejects``."""
    if path is None:
        return None
    cleaned = read(path)
    rejects.append(cleaned.rejects)
    return cleaned.frame


def _reputation_entries(path: Path | None, *, half_life_days: float | None) -> Cleaned | None:
    """A reputation file's entries and rejects, read before the events: a bad file is refused first."""
    if path is None:
        return None
    if half_life_days is None:
        raise ValueError("a reputation file needs the reputation's half-life")
    return read_reputation(path)


def _known(
    events: pd.DataFrame,
    history: PreparedHistory | None,
    entries: pd.DataFrame | None,
    *,
    half_life_days: float,
) -> pd.DataFrame | None:
    """The known subjects of a reputation file's entries for the window (None: no file, no event)."""
    if entries is None or events.empty:
        return None
    start = events["ts"].min()
    first = history.first_ts if history is not None else None
    context_start = min(start, first) if first is not None else start
    return known_for(entries, start=start, context_start=context_start, half_life_days=half_life_days)
