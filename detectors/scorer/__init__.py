"""The composed window scorer: clean events in, verdicts per engagement, post and account out.

``detectors.scorer.window`` scores a window's distinct engagements (history rows among them as
context) and decides; ``detectors.scorer.running`` runs the detectors on the rows each reads, and
``detectors.scorer.detections`` weighs and spreads what they found. ``detectors.scorer.history``
joins a window to its history, and prepares the history once for every window that reads it.
"""

from detectors.params import ScoringParams
from detectors.scorer.detections import FOCUSED_COLUMNS, raise_parts, spread_parts
from detectors.scorer.history import (
    history_engagements,
    prepare_scored_history,
    prepared_history,
    score_window,
)
from detectors.scorer.running import _view_of, _views
from detectors.scorer.window import ScoredWindow, confirmed_accounts, score_engagements

__all__ = [
    "FOCUSED_COLUMNS",
    "ScoredWindow",
    "ScoringParams",
    "_view_of",
    "_views",
    "confirmed_accounts",
    "history_engagements",
    "prepare_scored_history",
    "prepared_history",
    "raise_parts",
    "score_engagements",
    "score_window",
    "spread_parts",
]
