"""What a window's detectors may read besides its rows: posts, audiences, fitted state, reputation.

``WindowContext`` finds each shared input once per window (account features) or once per
platform (audience communities), under a lock, whichever detector thread asks first;
``post_communities`` labels each row with its post's audience community from the same
platform rows, so the IP test and the per-platform tests share one search.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from detectors.audiences import AudienceParams, Audiences, LightPairs, find_audiences, post_codes
from detectors.chance import WindowChance
from detectors.history import sliced_accounts
from detectors.infra import PostCommunities
from detectors.platform_verdicts import PlatformVerdicts
from detectors.pools import PoolChance
from features.account_features import TRIPLE_WITHIN_S, account_features
from features.arrays import codes, distinct
from features.timing import action_triples, publication_times

if TYPE_CHECKING:
    from detectors.fitted import FittedState

__all__ = ["WindowContext", "post_communities"]


class WindowContext:
    """What a detector may read besides the window: posts (times, studios), audiences, fitted state.

    ``account_features`` are computed once per window, on first request, under a
    lock: the anomaly detector (in a thread) and the stacker (after) share them, and
    ``action_triples`` likewise (the account features and the scripted rule).
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
        self._pairs: dict[tuple[object, ...], LightPairs] = {}
        self._pairs_lock = threading.Lock()
        self._features: pd.DataFrame | None = None
        self._triples: dict[float, np.ndarray] = {}
        self._triples_lock = threading.Lock()
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
                sliced = sliced_accounts(engagements, slice_days=self.audience.history_slice_days)
                bounds = {"min_posts": self.audience.min_posts, "max_posts": self.audience.max_posts}
                found = find_audiences(
                    sliced,
                    studios=self.studios(),
                    params=self.audience,
                    # the pool test's pairs too, where the accounts are the rows' own (not sliced)
                    pairs=self.light_pairs(engagements, **bounds) if sliced is engagements else None,
                )
                self._audiences[key] = found
            return self._audiences[key]

    def light_pairs(self, engagements: pd.DataFrame, *, min_posts: int, max_posts: int) -> LightPairs:
        """The light pairs of ``engagements`` (one platform's rows) at these bounds, found once for the
        audience finder and the pool test."""
        key = (*_rows_key(engagements.index), min_posts, max_posts)
        with self._pairs_lock:
            if key not in self._pairs:
                self._pairs[key] = LightPairs.of(engagements, min_posts=min_posts, max_posts=max_posts)
            return self._pairs[key]

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
                triples = self.action_triples(within_s=TRIPLE_WITHIN_S)
                self._features = account_features(self.engagements, times, is_triple=triples)
            return self._features

    def action_triples(self, *, within_s: float) -> np.ndarray:
        """Per row of the window: ``features.timing.action_triples`` (the account features and the
        scripted rule read the same triples)."""
        with self._triples_lock:
            if within_s not in self._triples:
                self._triples[within_s] = action_triples(self.engagements, within_s=within_s)
            return self._triples[within_s]


def _rows_key(index: pd.Index) -> tuple[object, ...]:
    """The cache key of a window's rows (one platform's): their number and first and last labels."""
    return (len(index), index[0], index[-1]) if len(index) else (0,)


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
