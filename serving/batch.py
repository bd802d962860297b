"""Batch scoring: contract files in, contract outputs out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from detectors.model import WindowScorer
from detectors.scorer import ScoredWindow
from features.contract import empty_rejects
from features.dedup import distinct_engagements
from serving.io import read_campaigns, read_events, read_posts, write_parquet, write_scored


@dataclass(frozen=True)
class BatchResult:
    """What a batch run read, rejected and decided, and where it wrote it."""

    scored: ScoredWindow
    rejects: pd.DataFrame
    n_rows_read: int
    out_dir: Path


def run_batch(
    *,
    events_path: Path,
    out_dir: Path,
    posts_path: Path | None = None,
    campaigns_path: Path | None = None,
    scorer: WindowScorer,
    progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Read, clean, score and write one window; rejected rows go to ``rejects.parquet``."""
    notify = progress or (lambda _step: None)
    notify("read")
    events = read_events(events_path)
    rejects = [events.rejects]
    n_rows_read = len(events.frame) + len(events.rejects.drop_duplicates("source_row"))
    engagements = distinct_engagements(events.frame)
    del events  # the raw rows are no longer needed: a large window's two copies never coexist
    campaigns = None
    if campaigns_path is not None:
        cleaned = read_campaigns(campaigns_path)
        campaigns = cleaned.frame
        rejects.append(cleaned.rejects)
    posts = None
    if posts_path is not None:
        cleaned = read_posts(posts_path)
        posts = cleaned.frame
        rejects.append(cleaned.rejects)
    scored = scorer.score_engagements(engagements, posts=posts, campaigns=campaigns, progress=notify)
    notify("write")
    all_rejects = pd.concat([r for r in rejects if not r.empty] or [empty_rejects()], ignore_index=True)
    write_scored(scored, out_dir)
    write_parquet(all_rejects, out_dir / "rejects.parquet")
    return BatchResult(
        scored=scored,
        rejects=all_rejects,
        n_rows_read=n_rows_read,
        out_dir=out_dir,
    )
