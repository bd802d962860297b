"""Scoring one detection run's period: its stored events, lookback and reputation read, the window
scored on Spark or in this process (the lookback prepared once where states are kept), the
challenger's shadow started, the verdicts written and summarised."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from detectors.memory import confirmed_subjects
from detectors.registry import PROGRESS_STEPS
from detectors.scorer import ScoredWindow
from features.contract import clean_events
from serving.campaigns import campaigns_frame
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc
from serving.db.models import DetectionRun
from serving.db.runs import RunRepository
from serving.history_state import HistoryState, HistoryStates
from serving.io import write_scored
from serving.run_context import RunContext
from serving.scored_runs import RUN_ENGAGEMENT_EXTRA, ScoredRun, empty_window, run_summary, scored_run
from serving.scorers import ActiveModels
from serving.shadow import shadow_score
from serving.spark_handoff import SparkHandoff
from serving.verdicts import events_hash


@dataclass(frozen=True)
class RunScoring:
    """Scores a run's period and writes its verdicts under ``runs_dir``; reports progress on the run."""

    runs: RunRepository
    campaigns: CampaignRepository
    # the run's events, lookback and reputation
    context: RunContext
    runs_dir: Path
    # runs the challenger's shadow scoring
    executor: Executor
    # large runs are scored on Spark when a master is configured
    spark: SparkHandoff | None
    # lookbacks prepared by earlier runs, read by later ones (``serving.history_state``); None: none
    history_states: HistoryStates | None

    def score(
        self, run: DetectionRun, active: ActiveModels
    ) -> tuple[ScoredRun, dict[str, int | float | str], str]:
        """The run's scored window by ``active``'s champion, its summary, and its input's hash."""
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        raw = self.context.stored_events(start=start, end=end, through_batch=run.last_batch_id)
        out_dir = self.runs_dir / run.id
        out_dir.mkdir(parents=True, exist_ok=True)  # the challenger's shadow may write first
        campaigns = campaigns_frame(self.campaigns.campaigns())
        if raw.empty:
            write_scored(empty_window(), out_dir, engagement_extra=RUN_ENGAGEMENT_EXTRA)
            scored = scored_run(run.id, active.champion, empty_window(), campaigns)
            return (
                scored,
                {"n_events": 0, "n_invalid": 0, "n_posts": 0, "n_flagged_accounts": 0},
                events_hash(raw),
            )
        events = clean_events(raw, source="event store").frame

        def progress(step: str) -> None:
            position = PROGRESS_STEPS.index(step) if step in PROGRESS_STEPS else 0
            self.runs.update_run(run.id, step=step, progress=round(position / len(PROGRESS_STEPS), 3))

        history = self.context.history(run, platforms=events["platform"])
        known = self.context.known(run, events)
        state = None
        if self.spark is not None and self.spark.takes(len(raw)):
            self.runs.update_run(run.id, step="spark", progress=0.05)
            window = self.spark.score(
                raw,
                events,
                campaigns=campaigns,
                scorer=active.champion.scorer,
                work=out_dir / "spark",
                history=history,
                known=known,
            )
        else:
            window, state = self._score_locally(events, campaigns, active, progress, history, known)
        challenger = active.challenger
        if challenger is not None and challenger.version != active.champion.version:
            self.executor.submit(
                shadow_score, out_dir, run.id, events, campaigns, window.posts, active.champion, challenger
            )
        progress("write")
        write_scored(window, out_dir, engagement_extra=RUN_ENGAGEMENT_EXTRA)
        scored = scored_run(run.id, active.champion, window, campaigns)
        summary = run_summary(scored, n_events=int(events["event_id"].nunique()), window=window)
        if history is not None:
            summary["n_history_events"] = int(history["event_id"].nunique())
        if state is not None:
            summary["history_state"] = state.status
        if known is not None:
            standing = known.loc[known["score"] > 0, "subject_kind"]
            summary["n_known_accounts"] = int((standing == "account").sum())
            summary["n_known_subjects"] = len(standing)
        scored = replace(scored, confirmed=confirmed_subjects(window, params=active.champion.params))
        return scored, summary, events_hash(raw)

    def _score_locally(
        self,
        events: pd.DataFrame,
        campaigns: pd.DataFrame,
        active: ActiveModels,
        progress: Callable[[str], None],
        history: pd.DataFrame | None,
        known: pd.DataFrame | None,
    ) -> tuple[ScoredWindow, HistoryState | None]:
        """The run's window scored in this process; its lookback prepared once and kept
        (``serving.history_state``) when the service keeps history states."""
        scorer = active.champion.scorer
        state = None
        if history is not None and self.history_states is not None:
            state = self.history_states.prepared(history, scorer)
            history = state.prepared.frame
        window = scorer.score(
            events, campaigns=campaigns, progress=progress, history=history, reputation=known
        )
        return window, state
