"""Creator units and the light accounts that tie them: posts coded, a studio's creators one unit,
and the (account, post) pairs of accounts light enough to tie creators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.audiences._arrays import IntArray
from features.arrays import codes, compact, distinct


def post_codes(engagements: pd.DataFrame) -> tuple[IntArray, pd.Index]:
    """Per row the code of its post (-1 when missing), and the post id of each code."""
    values = engagements["post_id"]
    if isinstance(values.dtype, pd.CategoricalDtype):
        # a platform's rows of a window: only the categories present, not every platform's posts
        raw = codes(values)
        has = raw >= 0
        present, rank = compact(raw[has], len(values.cat.categories))
        code = np.full(len(raw), -1, dtype=np.int64)
        code[has] = rank
        return code, pd.Index(values.cat.categories[present])
    code, uniques = pd.factorize(values)
    return np.asarray(code, dtype=np.int64), pd.Index(uniques)


def _post_units(
    engagements: pd.DataFrame, posts: IntArray, n_posts: int, studios: pd.Series | None
) -> IntArray:
    """Per post code: its creator unit, numbered from 0.

    The unit is the post's studio when ``studios`` (post_id to studio_id) names
    one, else its creator; a post of an unknown creator is a unit of its own.
    """
    unit = np.full(n_posts, -1, dtype=np.int64)
    has = posts >= 0
    if "creator_id" in engagements:
        unit[posts[has]] = codes(engagements["creator_id"])[has]
    if studios is not None and len(studios):
        rows = np.flatnonzero(has)
        first = np.zeros(n_posts, dtype=np.int64)
        first[posts[rows][::-1]] = rows[::-1]
        # each post's id from its first row (not every row's id: a categorical's rows decode one by one)
        studio = codes(pd.Series(studios.reindex(engagements["post_id"].iloc[first].to_numpy()).to_numpy()))
        unit = np.where(studio >= 0, int(unit.max(initial=-1)) + 1 + studio, unit)
    unknown = unit < 0
    unit[unknown] = int(unit.max(initial=-1)) + 1 + np.arange(int(unknown.sum()))
    return np.unique(unit, return_inverse=True)[1].astype(np.int64)


def light_pairs(
    users: IntArray, posts: IntArray, n_posts: int, min_posts: int, max_posts: int
) -> tuple[IntArray, IntArray]:
    """Distinct (account, post) pairs of the accounts with ``min_posts`` to ``max_posts`` posts."""
    pairs = distinct(users * n_posts + posts)
    pair_user, pair_post = pairs // n_posts, pairs % n_posts
    degree = np.bincount(pair_user)
    light = (degree[pair_user] >= min_posts) & (degree[pair_user] <= max_posts)
    return pair_user[light], pair_post[light]


@dataclass(frozen=True)
class LightPairs:
    """One platform's light pairs (``light_pairs`` of its rows, posts as ``post_codes`` codes them) at the
    bounds they were found with: found once per platform for the audience finder and the pool test."""

    min_posts: int
    max_posts: int
    pair_user: IntArray
    pair_post: IntArray

    @classmethod
    def of(cls, engagements: pd.DataFrame, *, min_posts: int, max_posts: int) -> LightPairs:
        """The light pairs of ``engagements`` (one platform's rows)."""
        users = codes(engagements["user_id"])
        posts, post_ids = post_codes(engagements)
        ok = (users >= 0) & (posts >= 0)
        return cls(
            min_posts, max_posts, *light_pairs(users[ok], posts[ok], len(post_ids), min_posts, max_posts)
        )

    def at(
        self, users: IntArray, posts: IntArray, n_posts: int, min_posts: int, max_posts: int
    ) -> tuple[IntArray, IntArray]:
        """``light_pairs(users, posts, n_posts, min_posts, max_posts)`` of the rows these pairs were found
        from (their known accounts and posts): these pairs at the same bounds, else found again."""
        if (min_posts, max_posts) == (self.min_posts, self.max_posts):
            return self.pair_user, self.pair_post
        return light_pairs(users, posts, n_posts, min_posts, max_posts)
