"""Insularity: how much of a community's co-engagement stays inside beyond what chance keeps there."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from detectors.audiences._arrays import FloatArray, IntArray
from features.arrays import distinct, sorted_inverse

# up to this many communities an account's pairs are counted in a dense array (a few columns per account)
_DENSE_COMMUNITIES = 4


def insularity(
    user: IntArray, unit: IntArray, community: IntArray, n_communities: int, *, z: float = 0.0
) -> FloatArray:
    """Per community: how insular the co-engagement of the light accounts of these pairs is.

    ``user``, ``unit`` and ``community`` describe (account, creator unit)
    pairs. Every shared account of two units counts, as in ``_communities``:
    chance shares each community's engagers out over the platform's in
    proportion to their numbers (see ``_insular``). With ``z`` > 0 the share
    kept inside is taken ``z`` binomial errors up, counted over the accounts
    that co-engage the community (an upper bound); with ``z`` < 0, ``-z``
    errors down (a lower bound). No shared account: 0 (with ``z`` > 0: 1, too
    few accounts to tell, as ``_insular`` counts them).
    """
    n_units = int(unit.max(initial=-1)) + 1
    if n_units == 0:
        return np.ones(n_communities) if z > 0 else np.zeros(n_communities)
    pairs = distinct(user * n_units + unit)
    unit_of = np.zeros(n_units, dtype=np.int64)
    unit_of[unit] = community
    return insularity_of_pairs(pairs // n_units, pairs % n_units, unit_of, n_communities, z=z)


def insularity_of_pairs(
    pair_user: IntArray, pair_unit: IntArray, unit_community: IntArray, n_communities: int, *, z: float = 0.0
) -> FloatArray:
    """``insularity`` of distinct (account, unit) pairs sorted by account then unit (a caller that holds
    them sorted already skips the sort), ``unit_community`` per unit its community."""
    if len(pair_user) == 0:
        return np.ones(n_communities) if z > 0 else np.zeros(n_communities)
    # the accounts' ranks: the pairs come by account
    rows = sorted_inverse(pair_user)[1]
    community = unit_community[pair_unit]
    if n_communities <= _DENSE_COMMUNITIES:
        # per account its pairs in each community as a dense count: the same integers the sparse
        # product counts (every sum exact in float64), without building the matrix
        counts = np.bincount(rows * n_communities + community, minlength=(int(rows[-1]) + 1) * n_communities)
        per_account = counts.reshape(-1, n_communities)
        # column by column: numpy's reductions across a few columns are slow, the integers the same
        columns = [per_account[:, c] for c in range(n_communities)]
        mass = np.bincount(community, minlength=n_communities).astype(np.float64)
        seen = (per_account.T @ per_account).astype(np.float64) - np.diag(mass)
        shared = sum(columns[1:], columns[0]) >= 2
        accounts = np.asarray([np.count_nonzero(column[shared]) for column in columns], dtype=np.float64)
    else:
        matrix = sparse.csr_matrix(
            (np.ones(len(pair_user)), (rows, community)), shape=(int(rows[-1]) + 1, n_communities)
        )
        mass = np.asarray(matrix.sum(axis=0)).ravel()
        seen = np.asarray((matrix.T @ matrix).todense(), dtype=np.float64) - np.diag(mass)
        shared = np.asarray(matrix.sum(axis=1)).ravel() >= 2
        accounts = np.asarray((matrix[shared] > 0).sum(axis=0)).ravel()
    engagers = np.bincount(pair_unit, minlength=len(unit_community)).astype(np.float64)
    own = np.bincount(unit_community, weights=engagers**2, minlength=n_communities)
    chance = np.outer(mass, mass) - np.diag(own)
    return _insular(seen, chance, accounts=accounts, z=z)


def _insular(
    seen: FloatArray, chance: FloatArray, *, accounts: FloatArray | None = None, z: float = 0.0
) -> FloatArray:
    """Per community of the k x k shared accounts ``seen`` and ``chance`` predicts: its insularity.

    The share of its shared accounts inside it beyond the share chance keeps
    inside, over what chance leaves outside: near 0 for a part of a mixed
    audience, 1 for an audience that never meets the rest. With ``z`` > 0 the
    inside share is its Wilson upper bound, ``z`` errors up, over ``accounts``
    draws: where none of a few accounts stays inside, the share is not known
    to be 0 (the normal bound's width vanishes there; ``z**2 / (n + z**2)``
    is what n accounts can rule out). With ``z`` < 0 its lower bound, ``-z``
    errors down: where few accounts are left, the share is not known to be high.
    """
    inside = np.diag(seen) / np.maximum(seen.sum(axis=1), 1e-12)
    if accounts is not None and z > 0:
        inside = upper_share(inside, accounts, z=z)
    elif accounts is not None and z < 0:
        inside = 1.0 - upper_share(1.0 - inside, accounts, z=-z)
    by_chance = np.diag(chance) / np.maximum(chance.sum(axis=1), 1e-12)
    return np.asarray((inside - by_chance) / np.maximum(1.0 - by_chance, 1e-12), dtype=np.float64)


def upper_share(share: FloatArray, accounts: FloatArray, *, z: float) -> FloatArray:
    """Wilson's upper bound, ``z`` errors up, of a ``share`` of ``accounts`` draws (none: 1)."""
    n = np.maximum(accounts, 1.0)
    wilson = (share + z * z / (2 * n) + z * np.sqrt(share * (1.0 - share) / n + z * z / (4 * n * n))) / (
        1.0 + z * z / n
    )
    return np.asarray(np.where(accounts > 0, np.minimum(wilson, 1.0), 1.0), dtype=np.float64)
