"""The detector registry: each detector declared once, and everything else read from it.

A ``DetectorSpec`` names a detector's reason code, the function that runs it on a
window, its params class (nested in ``ScoringParams.detectors`` under the same
name), whether its evidence is weak or structural, whether it runs per platform,
and how its score reaches other engagements. The scorer, the stacker's columns,
the progress steps, the unavailable-signal notes and the docs' detector table
are all derived from ``DETECTORS``: adding a detector is adding one spec. What a
detector reads besides the window (``WindowContext``) lives in ``detectors.context``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pandas as pd

from detectors.anomaly import AccountAnomalies, AnomalyParams, anomaly_detection
from detectors.base import Detection
from detectors.context import WindowContext, post_communities
from detectors.dense import DenseBlockParams, dense_blocks
from detectors.infra import IpFarmParams, shared_infrastructure
from detectors.lockstep import LockstepParams, lockstep_groups
from detectors.pools import PoolParams, seller_pools
from detectors.reputation import KnownSellerParams, known_sellers
from detectors.rings import RingParams, rings
from detectors.rules import (
    BurstParams,
    DeviceFarmParams,
    DuplicateParams,
    NewAccountParams,
    ScriptedParams,
    bursts,
    device_farms,
    duplicates,
    new_accounts,
    scripted_actions,
)

if TYPE_CHECKING:
    from detectors.fitted import FittedState

# WindowContext and post_communities re-exported: the scorer, scaleout and tests import them from here
__all__ = [
    "BY_NAME",
    "DETECTORS",
    "NAMES",
    "PROGRESS_STEPS",
    "STRUCTURAL",
    "WEAK",
    "DetectorSpec",
    "Kind",
    "Run",
    "WindowContext",
    "anomalous_accounts",
    "markdown_table",
    "post_communities",
    "unavailable_signals",
]


class Kind(StrEnum):
    """How much a detector's evidence weighs on its own."""

    # a group or infrastructure found in the window: enough to withhold pay
    STRUCTURAL = "structural"
    # timing, text or account oddity that honest users show too: capped below the review band
    WEAK = "weak"


Run = Callable[[pd.DataFrame, Any, WindowContext], Detection]


@dataclass(frozen=True)
class DetectorSpec:
    """One detector: its reason code, how it runs, its knobs and how its evidence counts."""

    name: str
    run: Run
    params: type
    kind: Kind
    summary: str
    # run once per platform: its chance model measures a platform's own engagement
    per_platform: bool = False
    # evidence about the engagement on its own post (what a creator buys), not only the account
    post_level: bool = False
    # a group detector: its score spreads to the group accounts' other engagements
    spreads: bool = False
    # its score is weighted by how focused each account is on the group's posts
    focus_weighted: bool = False
    # the contract column it needs, and how the note names the signal when it is missing
    needs: str | None = None
    signal: str = ""
    # higher runs first, so two detector threads finish together: the rank of its thread CPU seconds
    # at 1M events (anomaly 1.25, dense_block 1.2 with the audiences, lockstep 1.0, ring 0.64,
    # pool 0.57, ip_farm 0.42; the rest under 0.2), longest first
    cost: int = 0
    # sees history rows as context (``detectors.history``); False: judges the window's own rows
    # only, against the window (timing, text and account oddity describe the window, and the
    # union would only cost time)
    history: bool = True
    # a column of the supervised stacker; False for evidence drawn from review labels themselves
    # (reputation), which the stacker would learn back as its own target
    stacked: bool = True


def _plain(detect: Callable[..., Detection]) -> Run:
    """A detector that reads only the window and its params."""
    return lambda engagements, params, _context: detect(engagements, params=params)


def _device_farm(engagements: pd.DataFrame, params: DeviceFarmParams, context: WindowContext) -> Detection:
    window = context.chance.devices if context.chance is not None else None
    return device_farms(engagements, params=params, window_accounts=window)


def _ip_farm(engagements: pd.DataFrame, params: IpFarmParams, context: WindowContext) -> Detection:
    chance = context.chance.ip if context.chance is not None else None
    alone = context.chance.ip_window if context.chance is not None else None
    communities = post_communities(engagements, context)
    return shared_infrastructure(
        engagements, params=params, chance=chance, communities=communities, window_chance=alone
    )


def _lockstep(engagements: pd.DataFrame, params: LockstepParams, context: WindowContext) -> Detection:
    chance = context.chance.lockstep if context.chance is not None else None
    return lockstep_groups(engagements, params=params, posts=context.posts, chance=chance)


def _pool(engagements: pd.DataFrame, params: PoolParams, context: WindowContext) -> Detection:
    given = context.pool_chance(engagements)
    if given is not None:
        return seller_pools(engagements, params=params, chance=given)
    audiences = context.audiences(engagements)
    pairs = context.light_pairs(engagements, min_posts=params.min_posts, max_posts=params.max_posts)
    return seller_pools(engagements, params=params, audiences=audiences, pairs=pairs)


def _dense(engagements: pd.DataFrame, params: DenseBlockParams, context: WindowContext) -> Detection:
    return dense_blocks(engagements, params=params, audiences=context.audiences(engagements))


def _ring(engagements: pd.DataFrame, params: RingParams, context: WindowContext) -> Detection:
    return rings(engagements, params=params, studios=context.studios())


def _scripted(engagements: pd.DataFrame, params: ScriptedParams, context: WindowContext) -> Detection:
    # the window's own rows: the triples the account features read (``WindowContext.action_triples``)
    shared = engagements is context.engagements
    triples = context.action_triples(within_s=params.triple_within_s) if shared else None
    # one shard of a window: a comment text's accounts over the whole window (``detectors.chance``)
    window = context.chance.comment_accounts if context.chance is not None else None
    return scripted_actions(engagements, params=params, is_triple=triples, window_accounts=window)


def _known_seller(engagements: pd.DataFrame, _params: KnownSellerParams, context: WindowContext) -> Detection:
    return known_sellers(engagements, reputation=context.reputation)


def _anomaly(engagements: pd.DataFrame, params: AnomalyParams, context: WindowContext) -> Detection:
    """The pyod ensemble over the window's accounts (fitted on a training week if the scorer was); on a
    shard of a window, the window's unusual accounts, found once over all of them (``detectors.chance``)."""
    window = context.chance.anomaly if context.chance is not None else None
    if window is not None:
        return anomaly_detection(engagements, window)
    return anomaly_detection(
        engagements, anomalous_accounts(context.account_features(), params, context.fitted)
    )


def anomalous_accounts(
    features: pd.DataFrame, params: AnomalyParams, fitted: FittedState | None
) -> AccountAnomalies:
    """The unusual accounts among a window's ``features`` (the window's own, in its order), with the
    event score each gives: against the training week if ``fitted`` holds an anomaly model, else
    against the window's own accounts."""
    if fitted is not None and fitted.anomaly is not None:
        return fitted.anomaly.accounts(features)
    from detectors.anomaly import anomalous_accounts as cold

    return cold(features, params=params)


DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec(
        "duplicate",
        _plain(duplicates),
        DuplicateParams,
        Kind.STRUCTURAL,
        "the same user, post and action counted again under a new event id (a re-count)",
    ),
    DetectorSpec(
        "device_farm",
        _device_farm,
        DeviceFarmParams,
        Kind.STRUCTURAL,
        "many accounts on one device fingerprint, beyond what a household shares",
        spreads=True,
        needs="device_id",
    ),
    DetectorSpec(
        "new_account",
        _plain(new_accounts),
        NewAccountParams,
        Kind.WEAK,
        "accounts registered just before they engage",
        needs="user_created_at",
        history=False,
    ),
    DetectorSpec(
        "burst",
        _plain(bursts),
        BurstParams,
        Kind.WEAK,
        "a post's engagement arriving far faster than its own baseline",
        post_level=True,
        history=False,
    ),
    DetectorSpec(
        "scripted",
        _scripted,
        ScriptedParams,
        Kind.WEAK,
        "like-favorite-comment triples within seconds, and template comments shared by accounts",
        post_level=True,
        needs="comment_text",
        signal="scripted comments",
        history=False,
    ),
    DetectorSpec(
        "ip_farm",
        _ip_farm,
        IpFarmParams,
        Kind.STRUCTURAL,
        "many accounts behind one IP or prefix engaging the same posts, beyond a carrier NAT",
        post_level=True,
        spreads=True,
        needs="ip",
        cost=1,
    ),
    DetectorSpec(
        "lockstep",
        _lockstep,
        LockstepParams,
        Kind.STRUCTURAL,
        "accounts engaging the same posts in the same short windows, repeatedly (CopyCatch)",
        post_level=True,
        spreads=True,
        cost=4,
    ),
    DetectorSpec(
        "dense_block",
        _dense,
        DenseBlockParams,
        Kind.STRUCTURAL,
        "a user x post block far denser than a degree-preserving null (FRAUDAR-style peeling)",
        per_platform=True,
        post_level=True,
        spreads=True,
        focus_weighted=True,
        cost=5,
    ),
    DetectorSpec(
        "pool",
        _pool,
        PoolParams,
        Kind.STRUCTURAL,
        "light accounts that keep co-engaging posts of unrelated creators (a seller's pool)",
        per_platform=True,
        post_level=True,
        spreads=True,
        cost=2,
    ),
    DetectorSpec(
        "ring",
        _ring,
        RingParams,
        Kind.STRUCTURAL,
        "creators and their alt accounts engaging each other's posts (reciprocal rings)",
        post_level=True,
        spreads=True,
        cost=3,
    ),
    DetectorSpec(
        "anomaly",
        _anomaly,
        AnomalyParams,
        Kind.WEAK,
        "accounts unusual against the window's (or the training week's) accounts: pyod ensemble",
        cost=6,
        history=False,
    ),
    DetectorSpec(
        "known_seller",
        _known_seller,
        KnownSellerParams,
        Kind.WEAK,
        "accounts, farm devices and IPs, and seller groups' members earlier runs confirmed on structural "
        "evidence or reviewers confirmed, decayed with age (a cleared account is not known)",
        # the window's own rows: an account's history rows would only repeat its reputation
        history=False,
        stacked=False,
    ),
)

BY_NAME: dict[str, DetectorSpec] = {spec.name: spec for spec in DETECTORS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
WEAK: frozenset[str] = frozenset(spec.name for spec in DETECTORS if spec.kind is Kind.WEAK)
STRUCTURAL: frozenset[str] = frozenset(spec.name for spec in DETECTORS if spec.kind is Kind.STRUCTURAL)
# what a scoring run reports as it goes: reading, each detector, deciding, writing
PROGRESS_STEPS: tuple[str, ...] = ("read", *NAMES, "decide", "write")


def unavailable_signals(events: pd.DataFrame) -> tuple[str, ...]:
    """Signals whose input column is absent or entirely empty in this window."""
    return tuple(
        f"{spec.signal or spec.name} (no {spec.needs})"
        for spec in DETECTORS
        if spec.needs is not None and (spec.needs not in events or events[spec.needs].isna().all())
    )


def markdown_table() -> str:
    """The detectors as a Markdown table (docs/detection.md holds it; a test keeps the two equal)."""
    rows = [
        "| reason | kind | scope | history | what it finds | needs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in DETECTORS:
        scope = "per platform" if spec.per_platform else "window"
        needs = f"`{spec.needs}`" if spec.needs else ""
        history = "context" if spec.history else "window only"
        rows.append(f"| `{spec.name}` | {spec.kind} | {scope} | {history} | {spec.summary} | {needs} |")
    return "\n".join(rows)
