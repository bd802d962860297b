"""What the ring tests read from a window: creator codes, account owners, creator edges and the pool model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import csr_index
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
    account_ptr: IntArray  # pairs of account a: [account_ptr[a], account_ptr[a + 1])
    creator_ptr: IntArray  # pairs of creator c: creator_rows[creator_ptr[c]:creator_ptr[c + 1]]
    creator_rows: IntArray
    degree_mass: FloatArray  # [platform, degree class]: pairs of accounts of that class (see degree_class)

    @classmethod
    def build(cls, index: GraphIndex) -> _PoolModel:
        """The pool model of a window."""
        pairs = account_creator_pairs(index)
        account = pairs["account"].to_numpy()
        creator = pairs["creator"].to_numpy()
        creator_ptr, creator_rows = csr_index(creator, index.n_creators)
        return cls(
            account=account,
            creator=creator,
            degree=pairs["degree"].to_numpy(),
            account_ptr=np.r_[0, np.cumsum(np.bincount(account, minlength=index.n_accounts))].astype(
                np.int64
            ),
            creator_ptr=creator_ptr,
            creator_rows=creator_rows,
            degree_mass=np.bincount(
                index.creator_platform[creator] * DEGREE_CLASSES + degree_class(pairs["degree"].to_numpy()),
                minlength=max(len(index.platform_ids), 1) * DEGREE_CLASSES,
            )
            .reshape(-1, DEGREE_CLASSES)
            .astype(np.float64),
        )


@dataclass(frozen=True)
class _Window:
    """What the group tests read: codes, owners, creator edges, the pool model and post counts."""

    index: GraphIndex
    owner: IntArray
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
