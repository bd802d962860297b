"""The cover rules' counts found once per platform window judge as the per-pool counts did, bit for bit."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import insularity, insularity_of_pairs
from detectors.pools._repeats import _Repeats
from features.arrays import footprints


def _hashed(keys: np.ndarray, left_out: np.ndarray) -> np.ndarray:
    """What ``_Repeats.repeated`` answers, by hashing the kept accounts' keys: duplicated in code order."""
    kept = np.flatnonzero(~left_out & (keys != 0).any(axis=1))
    out = np.zeros(len(keys), dtype=bool)
    out[kept] = pd.DataFrame(keys[kept]).duplicated().to_numpy()
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repeats_grouped_once_answer_every_left_out_mask_as_hashing_does(seed: int):
    """Accounts on few posts (so that footprints repeat), some without any, under masks that leave out
    none, a footprint's first account, or a random share."""
    rng = np.random.default_rng(seed)
    n_users = 3_000
    user = rng.integers(0, n_users - 200, size=6_000)
    post = rng.integers(0, 6, size=6_000)
    keys = footprints(user, post, n_users)
    repeats = _Repeats.of(keys)
    assert repeats.repeated(np.zeros(n_users, dtype=bool)).sum() > 1_000
    for share in (0.0, 0.05, 0.5, 0.95, 1.0):
        left_out = rng.random(n_users) < share
        assert np.array_equal(repeats.repeated(left_out), _hashed(keys, left_out))
    # no account shares a footprint: nothing repeats
    alone = footprints(np.arange(5), np.arange(5), 7)
    assert not _Repeats.of(alone).repeated(np.zeros(7, dtype=bool)).any()


@pytest.mark.parametrize(
    ("seed", "z", "k"), [(0, 0.0, 2), (1, 2.0, 4), (2, -2.0, 2), (3, -1.0, 9), (4, 1.0, 5)]
)
def test_insularity_of_sorted_distinct_pairs_equals_insularity_of_the_raw_pairs(seed: int, z: float, k: int):
    """Pairs repeated and out of order, units without pairs, few communities (counted densely) and
    more (a sparse matrix): the same floats."""
    rng = np.random.default_rng(seed)
    n_units = 40
    community = rng.integers(0, k, size=n_units)
    user = rng.integers(0, 500, size=4_000)
    unit = np.minimum(rng.geometric(0.08, size=4_000) - 1, n_units - 5)
    raw = insularity(user, unit, community[unit], k, z=z)
    pairs = np.unique(user * n_units + unit)
    sorted_pairs = insularity_of_pairs(pairs // n_units, pairs % n_units, community, k, z=z)
    assert np.array_equal(raw, sorted_pairs)
    assert np.isfinite(raw).all() and (raw != 0).any()
