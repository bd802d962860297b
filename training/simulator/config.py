"""Options and output of the campaign simulator."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

MAX_SCALE = 500.0
MAX_COMMUNITIES = 16
# The switches of the inflation schemes; everything else in SimConfig is honest.
SCHEME_SWITCHES = (
    "bot_lockstep",
    "bot_camouflage",
    "click_farm",
    "ring",
    "drip_feed",
    "aged_accounts",
    "replay",
)


@dataclass(frozen=True)
class SimConfig:
    """Knobs of one simulated set; every scheme and honest oddity switches on its own.

    ``scale`` 1.0 gives about 100,000 events, linear in scale (small scales keep a
    floor of creators so that every scheme can still appear). Each component draws
    from its own random stream, so switching one scheme off leaves the honest
    traffic and the other schemes unchanged for the same seed.

    Honest structures that group tests must not take for fraud: ``studios``
    regroups creators into per-platform studios whose creators share fans and
    engage each other's posts; ``giveaways`` turns a few honest posts into
    "like and comment to win" posts (fast, near-identical comments);
    ``communities`` splits each platform's users and creators into that many
    audiences that rarely meet. All three are honest in the truth, and with
    their defaults the set is exactly what it was before they existed.

    ``multi_week`` makes a world of four consecutive weeks, each with new
    week-long campaigns on every platform: sellers keep their account pools
    across weeks and serve different clients each week, a few orders each (the
    history benchmark's world). Off by default: the set is what it was.
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
    studios: bool = False
    giveaways: bool = False
    communities: int = 1
    multi_week: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= MAX_SCALE:
            raise ValueError(f"scale must be in (0, {MAX_SCALE}], got {self.scale}")
        if not 1 <= self.communities <= MAX_COMMUNITIES:
            raise ValueError(f"communities must be in [1, {MAX_COMMUNITIES}], got {self.communities}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")

    def honest_only(self) -> SimConfig:
        """Return this config with every inflation scheme switched off (honest traffic unchanged)."""
        return replace(self, **dict.fromkeys(SCHEME_SWITCHES, False))


@dataclass(frozen=True)
class SimulatedSet:
    """Simulated campaign data in the contract's shape, plus the ground truth.

    ``truth_events`` has one row per distinct ``event_id`` (event_id, invalid,
    scheme, copies); ``truth_creators`` one row per (campaign_id, creator_id)
    with ``bought`` and the creator's main ``scheme`` ('' when not bought).
    ``truth_audiences`` gives each honest account's (users' and creators')
    platform and audience ``community``; it is empty with one community.
    """

    events: pd.DataFrame
    posts: pd.DataFrame
    campaigns: pd.DataFrame
    truth_events: pd.DataFrame
    truth_creators: pd.DataFrame
    truth_audiences: pd.DataFrame
