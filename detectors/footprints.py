"""Footprints: how often accounts on the same posts repeat beyond chance (a seller's order)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from features.arrays import distinct, footprints, group_sizes

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def footprint_weight(user: IntArray, post: IntArray, post_unit: IntArray) -> FloatArray:
    """Per account (code): the weight its ties get, 1 but for accounts whose footprint (the set of
    their light posts) repeats beyond chance: those of one footprint count ``max(1, expected)`` times.

    Chance is counted given each account's units: of the accounts on the same set of units, the
    share expected on these posts is, per unit, its post's share of the unit's engagement, each
    footprint counted once (an order's accounts would make its bought post the unit's engagement). A
    small audience's fans, on a few posts of a few creators, repeat footprints as that says; an
    order's accounts, sent to the same bought posts, far beyond it.
    """
    n_users, n_units = int(user.max()) + 1, int(post_unit.max()) + 1
    unit = post_unit[post]
    user_unit = distinct(user * n_units + unit)
    by_post = _key(footprints(user, post, n_users))
    same_posts = group_sizes(by_post).astype(np.float64)
    same_units = group_sizes(_key(footprints(user_unit // n_units, user_unit % n_units, n_users)))
    # each footprint once: the first account (lowest code) of each
    first = np.zeros(n_users, dtype=bool)
    first[np.unique(by_post, return_index=True)[1]] = True
    once = first[user]
    post_engagers = np.bincount(post[once], minlength=len(post_unit)).astype(np.float64)
    unit_engagers = np.bincount(user_unit[first[user_unit // n_units]] % n_units, minlength=n_units)
    log_share = np.log(np.maximum(post_engagers[post], 1.0) / np.maximum(unit_engagers[unit], 1.0))
    expected = same_units * np.exp(np.bincount(user, weights=log_share, minlength=n_users))
    return np.asarray(
        np.minimum(1.0, np.maximum(expected, 1.0) / np.maximum(same_posts, 1.0)), dtype=np.float64
    )


def _key(keys: npt.NDArray[np.uint64]) -> IntArray:
    """One int64 key per row of two 64-bit keys (equal rows: equal keys; others collide by chance)."""
    return np.asarray(
        (keys[:, 0] ^ (keys[:, 1] * np.uint64(0x9E3779B97F4A7C15))).view(np.int64), dtype=np.int64
    )
