"""Options and output of the campaign simulator."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MAX_SCALE = 500.0


@dataclass(frozen=True)
class SimConfig:
    """Knobs of one simulated set; every scheme and honest oddity switches on its own.

    ``scale`` 1.0 gives about 100,000 events, linear in scale (small scales keep a
    floor of creators so that every scheme can still appear). Each component draws
    from its own random stream, so switching one scheme off leaves the honest
    traffic and the other schemes unchanged for the same seed.
    """

    seed: int = 0
    scale: float = 1.0
    bot_lockstep: bool = True
    bot_camouflage: bool = True
    click_farm: bool = True
    ring: bool = True
    drip_feed: bool = True
    aged_accounts: bool = True
    replay: bool = True
    households: bool = True
    carrier_nat: bool = True
    fan_clubs: bool = True
    viral_posts: bool = True
    missing_values: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= MAX_SCALE:
            raise ValueError(f"scale must be in (0, {MAX_SCALE}], got {self.scale}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")


@dataclass(frozen=True)
class SimulatedSet:
    """Simulated campaign data in the contract's shape, plus the ground truth.

    ``truth_events`` has one row per distinct ``event_id`` (event_id, invalid,
    scheme, copies); ``truth_creators`` one row per (campaign_id, creator_id)
    with ``bought`` and the creator's main ``scheme`` ('' when not bought).
    """

    events: pd.DataFrame
    posts: pd.DataFrame
    campaigns: pd.DataFrame
    truth_events: pd.DataFrame
    truth_creators: pd.DataFrame
