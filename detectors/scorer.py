"""The composed window scorer: clean events in, verdicts per engagement, post and account out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.combine import combine
from detectors.dense import DenseBlockParams, dense_blocks
from detectors.infra import shared_infrastructure
from detectors.lockstep import LockstepParams, lockstep_groups
from detectors.parallel import run_detectors
from detectors.policy import decide_posts, flag_accounts, unit_prices
from detectors.pools import seller_pools
from detectors.rings import RingParams, ring_creators, rings
from detectors.rules import (
    bursts,
    device_farms,
    duplicates,
    new_accounts,
    scripted_actions,
    spread_to_accounts,
    weight_by_focus,
)
from detectors.strata import per_platform
from features.account_features import account_features
from features.dedup import distinct_engagements
from features.timing import publication_times

if TYPE_CHECKING:
    from detectors.fitted import FittedState

WindowDetector = Callable[[pd.DataFrame], Detection]

SIGNAL_INPUTS: dict[str, str] = {
    "device_farm": "device_id",
    "ip_farm": "ip",
    "new_account": "user_created_at",
    "scripted comments": "comment_text",
}
GROUP_DETECTORS = frozenset({"lockstep", "dense_block", "pool", "ring", "device_farm", "ip_farm"})
# evidence about an engagement on its own post, not about the account in general: what a
# creator buys. Camouflage reaches honest posts only through account-level evidence.
POST_LEVEL_DETECTORS = frozenset({"lockstep", "dense_block", "pool", "ring", "burst", "scripted", "ip_farm"})
COST_RANK = {
    name: rank for rank, name in enumerate(("anomaly", "lockstep", "dense_block", "ring", "ip_farm"))
}
WEAK_DETECTORS = frozenset({"burst", "scripted", "new_account", "anomaly"})


@dataclass(frozen=True)
class ScoringParams:
    """The thresholds of one scoring run (taken from Settings by the entry layer)."""

    invalid_risk: float = 0.5
    hold_invalid_share: float = 0.9
    hold_uncertain_share: float = 0.2
    review_risk: float = 0.46
    account_flag_risk: float = 0.5
    creator_flag_invalid_share: float = 0.2
    default_unit_price: float = 1.0
    disabled: frozenset[str] = frozenset()
    # detector threads share the window (no copy, nothing pickled); on 2 cores two threads
    # cut the detectors' wall time by about a third when a core is free (benchmarks/run.py)
    workers: int = 2
    parallel_from_events: int = 50_000


@dataclass(frozen=True)
class ScoredWindow:
    """Everything one scoring run decided, ready to write out."""

    engagements: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    detections: tuple[Detection, ...]
    unavailable_signals: tuple[str, ...] = field(default_factory=tuple)


def _anomalies(
    engagements: pd.DataFrame, *, posts: pd.DataFrame | None, fitted: FittedState | None = None
) -> Detection:
    """The pyod ensemble over this window's account features (fitted on a training week if given)."""
    # imported here: pyod and scikit-learn take a second to import, which a detector
    # thread then spends beside the others instead of every process start
    from detectors.anomaly import account_anomalies

    features = account_features(engagements, publication_times(engagements, posts))
    if fitted is not None and fitted.anomaly is not None:
        return fitted.anomaly.detect(engagements, features)
    return account_anomalies(engagements, features)


def window_detectors(posts: pd.DataFrame | None = None) -> list[tuple[str, WindowDetector]]:
    """The window detectors run on every window, in order (``posts`` gives publication times)."""
    return [
        ("duplicate", duplicates),
        ("device_farm", device_farms),
        ("new_account", new_accounts),
        ("burst", bursts),
        ("scripted", scripted_actions),
        ("ip_farm", shared_infrastructure),
        ("lockstep", partial(lockstep_groups, params=LockstepParams(), posts=posts)),
        ("dense_block", per_platform(partial(dense_blocks, params=DenseBlockParams()))),
        ("pool", per_platform(seller_pools)),
        ("ring", partial(rings, params=RingParams())),
    ]


def _detect(
    engagements: pd.DataFrame,
    *,
    posts: pd.DataFrame | None,
    params: ScoringParams,
    progress: Callable[[str], None] | None,
    fitted: FittedState | None,
) -> tuple[list[Detection], npt.NDArray[np.float64]]:
    """Every detector's detection of the window, and the noisy-OR of the post-level detectors' scores.

    Post-level scores are taken before group detections are spread to their
    accounts' other engagements: they say what was found on the post itself.
    """
    tasks = [(name, detector) for name, detector in window_detectors(posts) if name not in params.disabled]
    if "anomaly" not in params.disabled:
        tasks.append(("anomaly", partial(_anomalies, posts=posts, fitted=fitted)))
    # the costliest first, so that two workers finish together
    order = sorted(range(len(tasks)), key=lambda i: COST_RANK.get(tasks[i][0], len(COST_RANK)))
    workers = params.workers if len(engagements) >= params.parallel_from_events else 1
    found = run_detectors([tasks[i] for i in order], engagements, workers=workers, progress=progress)
    by_name = {tasks[i][0]: detection for i, detection in zip(order, found, strict=True)}
    detections: list[Detection] = []
    # one detector at a time: no detectors x events matrix
    post_level_keep = np.ones(len(engagements))
    for name, _ in tasks:
        detection = by_name[name]
        if name == "dense_block":
            detection = weight_by_focus(detection, engagements)
        if name in POST_LEVEL_DETECTORS:
            post_level_keep *= 1.0 - detection.event_score
        if name in GROUP_DETECTORS:
            detection = spread_to_accounts(detection, engagements)
        detections.append(detection)
    if fitted is not None and fitted.stacker is not None:
        features = account_features(engagements, publication_times(engagements, posts))
        detections.append(fitted.stacker.detect(detections, engagements, features))
    return detections, 1.0 - post_level_keep


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
    posts: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    params: ScoringParams | None = None,
    progress: Callable[[str], None] | None = None,
    fitted: FittedState | None = None,
) -> ScoredWindow:
    """Score a window of clean events (a campaign x period, or several campaigns).

    ``fitted`` is a training run's fitted state (``detectors.fitted``); without it
    scoring is cold: the anomaly ensemble is fitted on the window itself.
    """
    return score_engagements(
        distinct_engagements(events),
        posts=posts,
        campaigns=campaigns,
        params=params,
        progress=progress,
        fitted=fitted,
    )


def score_engagements(
    engagements: pd.DataFrame,
    *,
    posts: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    params: ScoringParams | None = None,
    progress: Callable[[str], None] | None = None,
    fitted: FittedState | None = None,
) -> ScoredWindow:
    """``score_window`` of events already reduced by ``distinct_engagements``.

    A caller that reads a large window can reduce it and drop the raw events
    before scoring, so that the two never sit in memory together. The frame
    gains the verdict columns in place.
    """
    params = params or ScoringParams()
    detections, post_level_risk = _detect(
        engagements, posts=posts, params=params, progress=progress, fitted=fitted
    )
    if progress is not None:
        progress("decide")
    verdicts = combine(
        detections, n_events=len(engagements), invalid_risk=params.invalid_risk, weak=WEAK_DETECTORS
    )
    for column in verdicts.columns:
        # reason and evidence stay categorical: a million strings cost time to build and write
        engagements[column] = verdicts[column].array
    price = unit_prices(engagements, campaigns, default_unit_price=params.default_unit_price)
    engagements["unit_price"] = price
    decided = decide_posts(
        engagements,
        price=price,
        hold_invalid_share=params.hold_invalid_share,
        hold_uncertain_share=params.hold_uncertain_share,
        review_risk=params.review_risk,
        invalid_risk=params.invalid_risk,
    )
    ring = next((d for d in detections if d.name == "ring"), None)
    is_direct = post_level_risk >= params.invalid_risk
    accounts = flag_accounts(
        engagements,
        decided,
        is_bought=engagements["invalid"].to_numpy(dtype=bool) & is_direct,
        ring_creators=frozenset(ring_creators(ring)) if ring is not None else frozenset(),
        account_flag_risk=params.account_flag_risk,
        creator_flag_invalid_share=params.creator_flag_invalid_share,
    )
    return ScoredWindow(
        engagements=engagements,
        posts=decided,
        accounts=accounts,
        detections=tuple(detections),
        unavailable_signals=unavailable_signals(engagements),
    )
