"""The composed window scorer: clean events in, verdicts per engagement, post and account out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from detectors.base import Detection
from detectors.combine import combine
from detectors.policy import decide_posts, flag_accounts, unit_prices
from detectors.rules import device_farms, duplicates, new_accounts
from features.dedup import distinct_engagements

WindowDetector = Callable[[pd.DataFrame], Detection]

SIGNAL_INPUTS: dict[str, str] = {
    "device_farm": "device_id",
    "new_account": "user_created_at",
}


@dataclass(frozen=True)
class ScoringParams:
    """The thresholds of one scoring run (taken from Settings by the entry layer)."""

    invalid_risk: float = 0.5
    hold_invalid_share: float = 0.6
    account_flag_risk: float = 0.5
    creator_flag_invalid_share: float = 0.2
    default_unit_price: float = 1.0


@dataclass(frozen=True)
class ScoredWindow:
    """Everything one scoring run decided, ready to write out."""

    engagements: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    detections: tuple[Detection, ...]
    unavailable_signals: tuple[str, ...] = field(default_factory=tuple)


def window_detectors() -> list[tuple[str, WindowDetector]]:
    """The window detectors run on every window, in order."""
    return [
        ("duplicate", duplicates),
        ("device_farm", device_farms),
        ("new_account", new_accounts),
    ]


def unavailable_signals(events: pd.DataFrame) -> tuple[str, ...]:
    """Signals whose input column is absent or entirely empty in this window."""
    return tuple(
        f"{signal} (no {column})"
        for signal, column in SIGNAL_INPUTS.items()
        if column not in events or events[column].isna().all()
    )


def score_window(
    events: pd.DataFrame,
    *,
    campaigns: pd.DataFrame | None = None,
    params: ScoringParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoredWindow:
    """Score a window of clean events (a campaign x period, or several campaigns)."""
    params = params or ScoringParams()
    engagements = distinct_engagements(events)
    detections: list[Detection] = []
    for name, detector in window_detectors():
        if progress is not None:
            progress(name)
        detections.append(detector(engagements))
    verdicts = combine(detections, n_events=len(engagements), invalid_risk=params.invalid_risk)
    for column in verdicts.columns:
        engagements[column] = verdicts[column].to_numpy()
    price = unit_prices(engagements, campaigns, default_unit_price=params.default_unit_price)
    engagements["unit_price"] = price
    posts = decide_posts(engagements, price=price, hold_invalid_share=params.hold_invalid_share)
    accounts = flag_accounts(
        engagements,
        posts,
        account_flag_risk=params.account_flag_risk,
        creator_flag_invalid_share=params.creator_flag_invalid_share,
    )
    return ScoredWindow(
        engagements=engagements,
        posts=posts,
        accounts=accounts,
        detections=tuple(detections),
        unavailable_signals=unavailable_signals(events),
    )
