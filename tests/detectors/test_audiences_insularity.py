"""Insularity counted densely (a few communities) and through the sparse account x community matrix."""

import numpy as np
import pytest

from detectors.audiences import _insularity
from detectors.audiences._insularity import insularity_of_pairs


def _pairs(seed: int, n_communities: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (account, unit) pairs by account then unit, account codes with gaps, and per unit its
    community (a community may have no unit)."""
    rng = np.random.default_rng(seed)
    user = rng.choice(np.arange(5000), size=600, replace=False)
    pairs = np.unique(np.repeat(user, rng.integers(1, 5, size=600)) * 40 + rng.integers(40, size=1))
    pairs = np.unique(np.r_[pairs, rng.choice(user, size=900) * 40 + rng.integers(40, size=900)])
    return pairs // 40, pairs % 40, rng.integers(n_communities, size=40)


@pytest.mark.parametrize("n_communities", [1, 2, 3, 4])
def test_the_dense_count_is_the_sparse_count(n_communities: int, monkeypatch: pytest.MonkeyPatch):
    """Up to ``_DENSE_COMMUNITIES`` communities the pairs are counted per account in a dense array (its
    sums column by column): the insularities, bounds up and down included, are the sparse matrix's."""
    assert n_communities <= _insularity._DENSE_COMMUNITIES
    for seed in range(10):
        user, unit, community = _pairs(seed, n_communities)
        dense = [insularity_of_pairs(user, unit, community, n_communities, z=z) for z in (0.0, 2.0, -2.0)]
        with monkeypatch.context() as patched:
            patched.setattr(_insularity, "_DENSE_COMMUNITIES", 0)
            sparse = [
                insularity_of_pairs(user, unit, community, n_communities, z=z) for z in (0.0, 2.0, -2.0)
            ]
        for a, b in zip(dense, sparse, strict=True):
            assert np.array_equal(a, b, equal_nan=True)
