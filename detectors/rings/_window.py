"""What the ring tests read from a window: creator codes, account owners, creator edges and the pool model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import csr_index, distinct, group_sizes
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
    """Distinct account x unit pairs, sorted by account, with a CSR index by unit; and who reached whom.

    A unit is a creator, or a studio's creators together (``_Window.unit``): a
    studio's fans engage several of its creators, which says nothing about a ring,
    so the pool test counts units.  ``reach`` keeps the creators themselves.
    """

    account: IntArray  # per pair
    unit: IntArray  # per pair
    degree: IntArray  # per pair: the account's number of units on that platform
    unit_ptr: IntArray  # pairs of unit u: unit_rows[unit_ptr[u]:unit_ptr[u + 1]]
    unit_rows: IntArray
    degree_mass: FloatArray  # [platform, degree class]: pairs of accounts of that class (see degree_class)
    reach_ptr: IntArray  # creators engaged by account a: reach[reach_ptr[a]:reach_ptr[a + 1]]
    reach: IntArray

    @classmethod
    def build(cls, index: GraphIndex, unit: IntArray) -> _PoolModel:
        """The pool model of a window whose creators form units ``unit`` (per creator code)."""
        pairs = account_creator_pairs(index)
        account, creator = pairs["account"].to_numpy(), pairs["creator"].to_numpy()
        reach_ptr = _ptr(account, index.n_accounts)
        degree = pairs["degree"].to_numpy()
        unit_platform = np.zeros(int(unit.max(initial=0)) + 1, dtype=np.int64)
        unit_platform[unit] = index.creator_platform
        pair_unit = creator
        if not np.array_equal(unit, np.arange(index.n_creators)):
            n_units = len(unit_platform)
            key = distinct(account * n_units + unit[creator])
            account, pair_unit = key // n_units, key % n_units
            degree = group_sizes(account * max(len(index.platform_ids), 1) + unit_platform[pair_unit])
        unit_ptr, unit_rows = csr_index(pair_unit, len(unit_platform))
        mass = np.bincount(
            unit_platform[pair_unit] * DEGREE_CLASSES + degree_class(degree),
            minlength=max(len(index.platform_ids), 1) * DEGREE_CLASSES,
        )
        return cls(
            account=account,
            unit=pair_unit,
            degree=degree,
            unit_ptr=unit_ptr,
            unit_rows=unit_rows,
            degree_mass=mass.reshape(-1, DEGREE_CLASSES).astype(np.float64),
            reach_ptr=reach_ptr,
            reach=creator,
        )


def _ptr(sorted_keys: IntArray, n_keys: int) -> IntArray:
    """CSR pointer of sorted keys: key k holds positions ``[ptr[k], ptr[k + 1])``."""
    return np.r_[0, np.cumsum(np.bincount(sorted_keys, minlength=n_keys))].astype(np.int64)


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
