"""Every knob of the lockstep detector, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LockstepParams:
    """The thresholds of ``lockstep_groups``; the defaults are the production values."""

    window_s: float = 300.0  # width of a synchronized window: bot bursts last a few minutes
    min_accounts: int = 10  # smallest group, in accounts
    min_posts: int = 2  # windows (posts) each member must share with the group
    honest_delay_s: float = 480.0  # mean reaction delay of the fastest honest crowd (a re-share, a push)
    onset_s: float = 1800.0  # a window starting this soon after publication is judged against fans
    fan_delay_s: float = 180.0  # mean reaction delay of fans at a post's publication
    min_post_log10: float = 3.0  # -log10 p a post's timing must reach against an honest crowd
    min_account_log10: float = 4.0  # -log10 p an account's presence must reach against its activity
    core_share: float = 0.1  # share of a seed's core that must sit in a window for it to join
    n_bands: int = 8  # MinHash LSH bands
    rows_per_band: int = 2  # MinHash rows per band
    lsh_seed: int = 0  # hash seed of the MinHash signatures
    # MinHash keys from a stable 64-bit hash of each account id (pandas' hash_array), the same whichever
    # rows a process holds, so a platform alone (a Spark shard) seeds the groups the window does; off:
    # an account's key is its rank among the accounts of the rows the test is given
    hash_account_ids: bool = True
    max_claimed_share: float = 0.5  # skip a core this much made of accounts already in accepted groups
    max_explored_share: float = 0.7  # skip a core this much made of accounts whose cores did not grow
    merge_overlap: float = 0.2  # groups sharing this share of the smaller one's accounts are one
    prior_engagements: float = 5.0  # pseudo-engagements pulling a post's background rate toward the crowd's
    grow_rounds: int = 2  # rounds of growing a core into the accounts on min_posts of its windows
    refine_rounds: int = 2  # rounds of regrowing an accepted group from its own members
    spill_windows: int = 1  # windows either side of the densest one where members' engagements are flagged

    def __post_init__(self) -> None:
        """Refuse values the tests cannot work with."""
        if (
            min(
                self.window_s,
                self.honest_delay_s,
                self.fan_delay_s,
                self.min_post_log10,
                self.min_account_log10,
            )
            <= 0
        ):
            raise ValueError("window_s, the delays and the log10 thresholds must be positive")
        if self.min_accounts < 2 or self.min_posts < 2 or self.n_bands < 1 or self.rows_per_band < 1:
            raise ValueError("min_accounts and min_posts must be >= 2, n_bands and rows_per_band >= 1")

    @property
    def crowd_share(self) -> float:
        """Most of an honest crowd one window holds: ``1 - exp(-window_s / honest_delay_s)``."""
        return float(-np.expm1(-self.window_s / self.honest_delay_s))

    @property
    def fan_share(self) -> float:
        """Most of a fan club one window at publication holds: ``1 - exp(-window_s / fan_delay_s)``."""
        return float(-np.expm1(-self.window_s / self.fan_delay_s))
