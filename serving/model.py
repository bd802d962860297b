"""The active detection model: the composed window scorer with pinned thresholds."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable

import pandas as pd

from detectors.scorer import ScoredWindow, ScoringParams, score_window

ScoreFn = Callable[..., ScoredWindow]


class WindowModel:
    """Scores windows of events; ``version`` and ``rules_version`` are pinned on every decision."""

    def __init__(self, *, params: ScoringParams, version: str, score_fn: ScoreFn | None = None) -> None:
        self.params = params
        self.version = version
        self._score_fn = score_fn or score_window
        payload = json.dumps(
            {k: sorted(v) if isinstance(v, frozenset) else v for k, v in dataclasses.asdict(params).items()},
            sort_keys=True,
        )
        self.rules_version = "rules-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    def is_ready(self) -> bool:
        """Whether the model can score."""
        return callable(self._score_fn)

    def score(
        self,
        events: pd.DataFrame,
        *,
        campaigns: pd.DataFrame | None,
        progress: Callable[[str], None] | None = None,
    ) -> ScoredWindow:
        """Score one window of clean events."""
        return self._score_fn(events, campaigns=campaigns, params=self.params, progress=progress)
