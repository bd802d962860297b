"""The detector registry: each detector declared once, and everything else read from it.

A ``DetectorSpec`` names a detector's reason code, the function that runs it on a
window, its params class (nested in ``ScoringParams.detectors`` under the same
name), whether its evidence is weak or structural, whether it runs per platform,
and how its score reaches other engagements. The scorer, the stacker's columns,
the progress steps, the unavailable-signal notes and the docs' detector table
are all derived from ``DETECTORS``: adding a detector is adding one spec.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from detectors.anomaly import AnomalyParams
from detectors.audiences import AudienceParams, Audiences, find_audiences, post_codes
from detectors.base import Detection
from detectors.chance import WindowChance
from detectors.dense import DenseBlockParams, dense_blocks
from detectors.history import sliced_accounts
from detectors.infra import IpFarmParams, PostCommunities, shared_infrastructure
from detectors.lockstep import LockstepParams, lockstep_groups
from detectors.platform_verdicts import PlatformVerdicts
from detectors.pools import PoolChance, PoolParams, seller_pools
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
from features.account_features import account_features
from features.arrays import codes, distinct
from features.timing import publication_times

if TYPE_CHECKING:
    from detectors.fitted import FittedState


class Kind(StrEnum):
    """How much a detector's evidence weighs on its own."""

    # a group or infrastructure found in the window: enough to withhold pay
    STRUCTURAL = "structural"
    # timing, text or account oddity that honest users show too: capped below the review band
    WEAK = "weak"


class WindowContext:
    """What a detector may read besides the window: posts (times, studios), audiences, fitted state.

    ``account_features`` are computed once per window, on first request, under a
    lock: the anomaly detector (in a thread) and the stacker (after) share them.
    ``audiences`` are computed once per platform likewise: the pool and
    dense-block tests (in two threads) share them. ``chance`` is the whole
    window's statistics (``detectors.chance``) when the rows are one shard of it;
    None: the rows are the window, and the detectors measure chance against them.
    """

    def __init__(
        self,
        engagements: pd.DataFrame,
        *,
        posts: pd.DataFrame | None,
        fitted: FittedState | None,
        audience: AudienceParams,
        reputation: pd.DataFrame | None = None,
        chance: WindowChance | None = None,
    ):
        self.engagements = engagements
        self.chance = chance
        self.posts = posts
        self.fitted = fitted
        self.audience = audience
        # known accounts with their decayed reputation (``detectors.reputation``); None: none known
        self.reputation = reputation
        self._audiences: dict[tuple[object, ...], Audiences] = {}
        self._audiences_lock = threading.Lock()
        self._features: pd.DataFrame | None = None
        self._studios: pd.Series | None = None
        self._studios_lock = threading.Lock()
        self._lock = threading.Lock()

    def studios(self) -> pd.Series | None:
        """post_id to studio_id from ``posts.studio_id`` (None when no post names a studio)."""
        with self._studios_lock:
            if self._studios is None and self.posts is not None and "studio_id" in self.posts:
                named = self.posts.dropna(subset=["studio_id"]).drop_duplicates("post_id")
                self._studios = named.set_index("post_id")["studio_id"].astype(str)
            return self._studios if self._studios is not None and len(self._studios) else None

    def pool_chance(self, engagements: pd.DataFrame) -> PoolChance | None:
        """The whole platform's pool chance model when ``engagements`` (one platform's rows) are a
        shard of a platform split along its graph (``WindowChance.pools``); None: they are the platform."""
        pools = self.chance.pools if self.chance is not None else None
        if not pools or "platform" not in engagements or not len(engagements):
            return None
        return pools.get(str(engagements["platform"].iloc[0]))

    def platform_verdicts(self, engagements: pd.DataFrame, name: str) -> PlatformVerdicts | None:
        """Detector ``name``'s verdicts on the whole platform when ``engagements`` (one platform's rows)
        are a shard of a platform split along its graph (``WindowChance.verdicts``); None: run it."""
        verdicts = self.chance.verdicts if self.chance is not None else None
        if not verdicts or "platform" not in engagements or not len(engagements):
            return None
        return verdicts.get(str(engagements["platform"].iloc[0]), {}).get(name)

    def audiences(self, engagements: pd.DataFrame) -> Audiences:
        """The audience communities of ``engagements``: the window or one platform's rows of it (the
        whole platform's when the rows are one shard of it, ``pool_chance``)."""
        given = self.pool_chance(engagements)
        if given is not None:
            return given.audiences
        key = _rows_key(engagements.index)
        with self._audiences_lock:
            if key not in self._audiences:
                found = find_audiences(
                    sliced_accounts(engagements, slice_days=self.audience.history_slice_days),
                    studios=self.studios(),
                    params=self.audience,
                )
                self._audiences[key] = found
            return self._audiences[key]

    def audiences_of_rows(self, engagements: pd.DataFrame, rows: np.ndarray) -> Audiences:
        """``audiences`` of the rows ``rows`` of ``engagements`` (one platform's): the rows are sliced
        only when their audiences are not found yet (or come from a split platform's chance)."""
        if len(rows) == len(engagements):
            return self.audiences(engagements)
        if self.chance is None:
            with self._audiences_lock:
                found = self._audiences.get(_rows_key(engagements.index[rows]))
            if found is not None:
                return found
        return self.audiences(engagements.iloc[rows])

    def account_features(self) -> pd.DataFrame:
        """Per engaging account of the window: the features of ``features.account_features``."""
        with self._lock:
            if self._features is None:
                times = publication_times(self.engagements, self.posts)
                self._features = account_features(self.engagements, times)
            return self._features


def _rows_key(index: pd.Index) -> tuple[object, ...]:
    """The cache key of a window's rows (one platform's): their number and first and last labels."""
    return (len(index), index[0], index[-1]) if len(index) else (0,)


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


def post_communities(engagements: pd.DataFrame, context: WindowContext) -> PostCommunities:
    """Per row its post's audience community (``WindowContext.audiences`` of its platform), labelled
    ``platform/number``: the same platform rows as the per-platform detectors see, so found once."""
    code = np.full(len(engagements), -1, dtype=np.int64)
    labels: list[str] = []
    if not len(engagements):
        return PostCommunities(code, pd.Index(labels, dtype="str"))
    has_platform = "platform" in engagements
    stratum = codes(engagements["platform"]) if has_platform else np.zeros(len(engagements), np.int64)
    present = distinct(stratum)
    for value in present:
        rows = np.flatnonzero(stratum == value) if len(present) > 1 else np.arange(len(engagements))
        # the platform's rows sliced only if the per-platform detectors have not found its audiences
        audiences = context.audiences_of_rows(engagements, rows)
        post, post_ids = post_codes(engagements[["post_id"]].iloc[rows])
        of_post = audiences.communities(audiences.units(post_ids))
        found = np.where(post >= 0, of_post[np.maximum(post, 0)], 0) if len(of_post) else post * 0
        code[rows] = len(labels) + found
        platform = str(engagements["platform"].iloc[rows[0]]) if has_platform and value >= 0 else ""
        labels += [f"{platform}/{number}" for number in range(int(found.max(initial=0)) + 1)]
    return PostCommunities(code, pd.Index(labels, dtype="str"))


def _ip_farm(engagements: pd.DataFrame, params: IpFarmParams, context: WindowContext) -> Detection:
    chance = context.chance.ip if context.chance is not None else None
    communities = post_communities(engagements, context)
    return shared_infrastructure(engagements, params=params, chance=chance, communities=communities)


def _lockstep(engagements: pd.DataFrame, params: LockstepParams, context: WindowContext) -> Detection:
    chance = context.chance.lockstep if context.chance is not None else None
    return lockstep_groups(engagements, params=params, posts=context.posts, chance=chance)


def _pool(engagements: pd.DataFrame, params: PoolParams, context: WindowContext) -> Detection:
    given = context.pool_chance(engagements)
    if given is not None:
        return seller_pools(engagements, params=params, chance=given)
    return seller_pools(engagements, params=params, audiences=context.audiences(engagements))


def _dense(engagements: pd.DataFrame, params: DenseBlockParams, context: WindowContext) -> Detection:
    return dense_blocks(engagements, params=params, audiences=context.audiences(engagements))


def _ring(engagements: pd.DataFrame, params: RingParams, context: WindowContext) -> Detection:
    return rings(engagements, params=params, studios=context.studios())


def _known_seller(engagements: pd.DataFrame, _params: KnownSellerParams, context: WindowContext) -> Detection:
    return known_sellers(engagements, reputation=context.reputation)


def _anomaly(engagements: pd.DataFrame, params: AnomalyParams, context: WindowContext) -> Detection:
    """The pyod ensemble over the window's accounts (fitted on a training week if the scorer was)."""
    from detectors.anomaly import account_anomalies

    features = context.account_features()
    fitted = context.fitted
    if fitted is not None and fitted.anomaly is not None:
        return fitted.anomaly.detect(engagements, features)
    return account_anomalies(engagements, features, params=params)


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
        _plain(scripted_actions),
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
