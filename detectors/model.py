"""The one scorer type: pinned scoring parameters plus one training run's fitted state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from detectors.chance import WindowChance
from detectors.fitted import FittedState
from detectors.params import ScoringParams, rules_version
from detectors.scorer import ScoredWindow, history_engagements, score_engagements, score_window
from features.contract import clean_events

# what the registered model answers per distinct engagement
OUTPUT_COLUMNS: tuple[str, ...] = ("event_id", "risk", "invalid", "reason")


@dataclass(frozen=True)
class WindowScorer:
    """Scores windows with the thresholds and fitted state it was trained and gated with.

    Batch scoring, the service and the model registry all score through this
    class (cold scoring is a ``WindowScorer`` without fitted state). Serving
    unpickles it from the MLflow model registry; it lives in ``detectors`` so
    that serving never imports training.
    """

    params: ScoringParams = field(default_factory=ScoringParams)
    fitted: FittedState = field(default_factory=FittedState)
    week: str = ""
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def rules_version(self) -> str:
        """A digest of every scoring parameter that changes a verdict."""
        return rules_version(self.params)

    def score(
        self,
        events: pd.DataFrame,
        *,
        posts: pd.DataFrame | None = None,
        campaigns: pd.DataFrame | None = None,
        progress: Callable[[str], None] | None = None,
        history: pd.DataFrame | None = None,
        reputation: pd.DataFrame | None = None,
    ) -> ScoredWindow:
        """Score one window of clean events; ``history`` (earlier clean events) is context only,
        ``reputation`` the known subjects ``known_seller`` reads (``detectors.reputation``)."""
        return score_window(
            events,
            params=self.params,
            posts=posts,
            campaigns=campaigns,
            progress=progress,
            fitted=self.fitted,
            history=history,
            reputation=reputation,
        )

    def with_history(
        self,
        events: pd.DataFrame,
        history: pd.DataFrame | None,
        *,
        posts: pd.DataFrame | None = None,
        campaigns: pd.DataFrame | None = None,
        reputation: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """The distinct engagements ``score_engagements`` scores: the window's and the history it reads
        under this scorer's params (``detectors.scorer.history_engagements``)."""
        return history_engagements(
            events,
            history,
            params=self.params,
            posts=posts,
            campaigns=campaigns,
            fitted=self.fitted,
            reputation=reputation,
        )

    def score_engagements(
        self,
        engagements: pd.DataFrame,
        *,
        posts: pd.DataFrame | None = None,
        campaigns: pd.DataFrame | None = None,
        progress: Callable[[str], None] | None = None,
        reputation: pd.DataFrame | None = None,
        chance: WindowChance | None = None,
    ) -> ScoredWindow:
        """Score a window already reduced to distinct engagements (``detectors.history.with_history``);
        ``chance``: the whole window's statistics when these are one shard of it (``detectors.chance``)."""
        return score_engagements(
            engagements,
            params=self.params,
            posts=posts,
            campaigns=campaigns,
            progress=progress,
            fitted=self.fitted,
            reputation=reputation,
            chance=chance,
        )

    def predict(self, raw_events: pd.DataFrame) -> pd.DataFrame:
        """Per distinct engagement of raw contract events: event_id, risk, invalid, reason."""
        scored = self.score(clean_events(raw_events, source="model input").frame)
        out = scored.engagements[list(OUTPUT_COLUMNS)].reset_index(drop=True)
        return pd.DataFrame(
            {
                "event_id": out["event_id"].astype("str").astype(object),
                "risk": out["risk"].astype("float64"),
                "invalid": out["invalid"].astype(bool),
                "reason": out["reason"].astype("str").astype(object),
            }
        )
