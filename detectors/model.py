"""The registered scorer: pinned scoring parameters plus one training run's fitted state."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from detectors.fitted import FittedState
from detectors.scorer import ScoredWindow, ScoringParams, score_window
from features.contract import clean_events

# what the registered model answers per distinct engagement
OUTPUT_COLUMNS: tuple[str, ...] = ("event_id", "risk", "invalid", "reason")


@dataclass(frozen=True)
class WindowScorer:
    """Scores windows with the thresholds and fitted state it was trained and gated with.

    Serving unpickles this class from the MLflow model registry; it lives in
    ``detectors`` so that serving never imports training.
    """

    params: ScoringParams
    fitted: FittedState = field(default_factory=FittedState)
    week: str = ""
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def score_fn(self) -> Callable[..., ScoredWindow]:
        """``score_window`` with this scorer's fitted state bound (what serving calls)."""
        return partial(score_window, fitted=self.fitted)

    @property
    def rules_version(self) -> str:
        """A digest of the pinned scoring parameters."""
        return rules_version(self.params)

    def score(
        self,
        events: pd.DataFrame,
        *,
        posts: pd.DataFrame | None = None,
        campaigns: pd.DataFrame | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ScoredWindow:
        """Score one window of clean events."""
        return score_window(
            events,
            posts=posts,
            campaigns=campaigns,
            params=self.params,
            progress=progress,
            fitted=self.fitted,
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


def rules_version(params: ScoringParams) -> str:
    """``rules-`` and the first 12 hex digits of the SHA-256 of the parameters."""
    payload = json.dumps(
        {k: sorted(v) if isinstance(v, frozenset) else v for k, v in dataclasses.asdict(params).items()},
        sort_keys=True,
    )
    return "rules-" + hashlib.sha256(payload.encode()).hexdigest()[:12]
