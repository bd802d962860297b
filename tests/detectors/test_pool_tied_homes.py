"""An account's home in the pool test's chance (``detectors.pools._chance._Audiences``): with
``pool_tied_home`` "shared" an account whose creators lie equally in two communities has its home shared
between them, so the chance model does not depend on how the communities were numbered (a history run
and the whole period of dev seed 56 numbered one platform's communities apart and took 59 and 10 accounts
of one seller's book)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from detectors.pools._chance import _Audiences
from detectors.pools._params import PoolParams

SHARED = replace(PoolParams(), pool_tied_home="shared")
LARGEST = replace(PoolParams(), pool_tied_home="largest")
WIDTH = 8  # creator units 0-7


def _audience(
    user: list[int], creator: list[int], unit_community: list[int], params: PoolParams
) -> _Audiences:
    keys = np.unique(np.asarray(user, dtype=np.int64) * WIDTH + np.asarray(creator, dtype=np.int64))
    return _Audiences.build(keys, np.asarray(unit_community, dtype=np.int64), WIDTH, params=params)


def _world() -> tuple[list[int], list[int]]:
    """Accounts 0-5 on creators of communities A (units 0-3) and B (units 4-7): 0 and 1 stay in A, 2 in B,
    3 and 4 tie (one creator in each), 5 ties with two in each."""
    pairs = [(0, 0), (0, 1), (1, 2), (1, 3), (1, 0), (2, 4), (2, 5), (3, 1), (3, 6), (4, 2), (4, 7)]
    pairs += [(5, 0), (5, 3), (5, 5), (5, 7)]
    return [u for u, _ in pairs], [c for _, c in pairs]


def test_without_ties_the_shared_home_is_the_old_home():
    """Accounts with one community holding most of their creators: both rules give the same chance."""
    user, creator = [0, 0, 1, 1, 1, 2, 2, 3], [0, 1, 2, 3, 4, 4, 5, 6]
    communities = [0, 0, 0, 0, 1, 1, 1, 1]
    old = _audience(user, creator, communities, PoolParams())
    new = _audience(user, creator, communities, SHARED)
    assert np.allclose(old.by_degree, new.by_degree) and np.allclose(old.spread, new.spread)


def test_a_tied_account_is_shared_between_its_communities():
    """Accounts 3, 4 (1 + 1) and 5 (2 + 2) count half at home in each community; the lowest-numbered rule
    puts all three in A."""
    user, creator = _world()
    communities = [0, 0, 0, 0, 1, 1, 1, 1]
    old = _audience(user, creator, communities, PoolParams())
    new = _audience(user, creator, communities, SHARED)
    assert old.by_degree[:, 2].tolist() == [3.0, 1.0]  # 0, 3, 4 in A and 2 in B, two creators each
    assert new.by_degree[:, 2].tolist() == [2.0, 2.0]
    assert new.by_degree[:, 4].tolist() == [0.5, 0.5]
    # A's home accounts: 0 (2 pairs in A), 1 (3), half of 3 and 4 (1 + 1), of 5 (2 + 2): 7 in A, 2 in B
    assert np.allclose(new.spread[0], [7.0 / 9.0, 2.0 / 9.0])


def test_renumbering_the_communities_renumbers_the_chance():
    """The same audiences numbered the other way round: the shared rule's counts swap rows and columns,
    and so do the largest rule's (A holds 9 pairs, B 6: ties go to A either way); the lowest-numbered
    rule's do not (its tied accounts move home)."""
    user, creator = _world()
    ab = [0, 0, 0, 0, 1, 1, 1, 1]
    ba = [1, 1, 1, 1, 0, 0, 0, 0]
    for params, same in ((SHARED, True), (LARGEST, True), (PoolParams(), False)):
        one, other = _audience(user, creator, ab, params), _audience(user, creator, ba, params)
        swapped = np.allclose(one.by_degree, other.by_degree[::-1]) and np.allclose(
            one.spread, other.spread[::-1, ::-1]
        )
        assert swapped is same


def test_an_unknown_tie_rule_is_refused():
    with pytest.raises(
        ValueError, match="pool_tied_home must be one of lowest, largest, shared, not 'share'"
    ):
        replace(PoolParams(), pool_tied_home="share")
