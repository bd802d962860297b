"""Batch scoring: contract files in, contract outputs out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from detectors.model import WindowScorer
from detectors.reputation import known_for
from detectors.scorer import ScoredWindow
from features.contract import Cleaned, empty_rejects
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
) -> BatchResult:
    """Read, clean, score and write one window; rejected rows go to ``rejects.parquet``.

    ``history_paths`` (files or partitioned folders of earlier events, same
    contract) are context: scored beside the window, never in its outputs; their
    rejected rows go to ``history_rejects.parquet``. ``reputation_path`` is a
    reputation file (``serving.reputation_file``): what it established before the
    window (runs' entries before the history, as the service reads them) is
    ``known_seller`` evidence, decayed with ``half_life_days``; its rejected rows
    go to ``reputation_rejects.parquet``.
    """
    notify = progress or (lambda _step: None)
    notify("read")
    reputation = _reputation_entries(reputation_path, half_life_days=half_life_days)
    entries = reputation.frame if reputation is not None else None
    events = read_events_from([events_path])
    rejects = [events.rejects]
    n_rows_read = len(events.frame) + len(events.rejects.drop_duplicates(["source_file", "source_row"]))
    history = read_events_from(history_paths) if history_paths else None
    known = _known(events.frame, history, entries, half_life_days=half_life_days or 0.0)
    campaigns = _side_file(read_campaigns, campaigns_path, rejects)
    posts = _side_file(read_posts, posts_path, rejects)
    engagements = scorer.with_history(
        events.frame,
        history.frame if history is not None else None,
        posts=posts,
        campaigns=campaigns,
        reputation=known,
    )
    del events  # the raw rows are no longer needed: a large window's two copies never coexist
    scored = scorer.score_engagements(
        engagements, posts=posts, campaigns=campaigns, progress=notify, reputation=known
    )
    notify("write")
    all_rejects = _write(scored, rejects, history, reputation, out_dir=out_dir)
    return BatchResult(
        scored=scored,
        rejects=all_rejects,
        n_rows_read=n_rows_read,
        out_dir=out_dir,
        history_rejects=history.rejects if history is not None else None,
        n_history_events=len(history.frame) if history is not None else 0,
        reputation_rejects=reputation.rejects if reputation is not None else None,
        n_reputation_entries=len(entries) if entries is not None else 0,
    )


def _write(
    scored: ScoredWindow,
    rejects: list[pd.DataFrame],
    history: Cleaned | None,
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
    events: pd.DataFrame, history: Cleaned | None, entries: pd.DataFrame | None, *, half_life_days: float
) -> pd.DataFrame | None:
    """The known subjects of a reputation file's entries for the window (None: no file, no event)."""
    if entries is None or events.empty:
        return None
    start = events["ts"].min()
    has_history = history is not None and len(history.frame) > 0
    context_start = min(start, history.frame["ts"].min()) if has_history else start  # type: ignore[union-attr]
    return known_for(entries, start=start, context_start=context_start, half_life_days=half_life_days)
