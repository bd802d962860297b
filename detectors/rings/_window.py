"""What the ring tests read from a window: creator codes, account owners, creator edges and the pool model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import csr_index, distinct_first, group_sizes
from features.graph import GraphIndex
from features.shared_engagers import account_creator_pairs

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


# accounts are compared with accounts of like activity: one class per degree up to 16, then doublings
DEGREE_CLASSES = 48


def degree_class(degree: IntArray) -> IntArray:
    """Per account degree (creators engaged): its activity class, below ``DEGREE_CLASSES``."""
    doublings = np.ceil(np.log2(np.maximum(degree, 16) / 16.0)).astype(np.int64)
    return np.asarray(np.where(degree <= 16, degree, np.minimum(16 + doublings, DEGREE_CLASSES - 1)))


@dataclass(frozen=True)
class _PoolModel:
    """Distinct account x creator pairs, sorted by account, with a CSR index by creator."""

    account: IntArray  # per pair
    creator: IntArray  # per pair
    degree: IntArray  # per pair: the account's number of creators on that platform
    # per pair: the account's number of creator units on that platform (a studio's creators are one)
    unit_degree: IntArray
    account_ptr: IntArray  # pairs of account a: [account_ptr[a], account_ptr[a + 1])
    creator_ptr: IntArray  # pairs of creator c: creator_rows[creator_ptr[c]:creator_ptr[c + 1]]
    creator_rows: IntArray
    degree_mass: FloatArray  # [platform, degree class]: pairs of accounts of that class (see degree_class)

    @classmethod
    def build(cls, index: GraphIndex, unit: IntArray) -> _PoolModel:
        """The pool model of a window whose creators form units ``unit`` (per creator code)."""
        pairs = account_creator_pairs(index)
        account = pairs["account"].to_numpy()
        creator = pairs["creator"].to_numpy()
        creator_ptr, creator_rows = csr_index(creator, index.n_creators)
        unit_degree, is_first = _unit_degree(index, unit, account, creator, pairs["degree"].to_numpy())
        # one pair per account and unit: an account of a studio's fans is one pair of that studio
        mass_key = index.creator_platform[creator[is_first]] * DEGREE_CLASSES + degree_class(
            unit_degree[is_first]
        )
        return cls(
            account=account,
            creator=creator,
            degree=pairs["degree"].to_numpy(),
            unit_degree=unit_degree,
            account_ptr=np.r_[0, np.cumsum(np.bincount(account, minlength=index.n_accounts))].astype(
                np.int64
            ),
            creator_ptr=creator_ptr,
            creator_rows=creator_rows,
            degree_mass=np.bincount(mass_key, minlength=max(len(index.platform_ids), 1) * DEGREE_CLASSES)
            .reshape(-1, DEGREE_CLASSES)
            .astype(np.float64),
        )


def _unit_degree(
    index: GraphIndex, unit: IntArray, account: IntArray, creator: IntArray, degree: IntArray
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Per account x creator pair: the account's number of creator units on the creator's platform,
    and whether the pair is the first of its account and unit (units never span platforms)."""
    if np.array_equal(unit, np.arange(index.n_creators)):
        return degree, np.ones(len(account), dtype=bool)
    n_units = int(unit.max(initial=0)) + 1
    pair_units, first, inverse = distinct_first(account * n_units + unit[creator])
    platform = index.creator_platform[creator[first]]
    per_unit = group_sizes((pair_units // n_units) * max(len(index.platform_ids), 1) + platform)
    is_first = np.zeros(len(account), dtype=bool)
    is_first[first] = True
    return np.asarray(per_unit[inverse], dtype=np.int64), is_first


@dataclass(frozen=True)
class _Window:
    """What the group tests read: codes, owners, units, creator edges, the pool model and post counts."""

    index: GraphIndex
    owner: IntArray
    unit: IntArray  # per creator code: its unit, its studio's (a code >= n_creators) or its own
    edges: pd.DataFrame
    pool: _PoolModel
    posts: IntArray


def _block(members: IntArray, edges: pd.DataFrame, column: str) -> FloatArray:
    """Dense members x members matrix of one edge column (0 where no edge)."""
    source = edges["source"].to_numpy()
    target = edges["target"].to_numpy()
    inside = np.isin(source, members) & np.isin(target, members)
    out = np.zeros((len(members), len(members)), dtype=np.float64)
    out[np.searchsorted(members, source[inside]), np.searchsorted(members, target[inside])] = edges[
        column
    ].to_numpy()[inside]
    return out
