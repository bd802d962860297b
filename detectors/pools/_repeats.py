"""Accounts that repeat another's footprint: grouped once per platform window, judged per left-out mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class _Repeats:
    """The accounts whose footprint (``features.arrays.footprints``: the set of their light posts) some
    other account shares, by footprint and, within one, by account code.

    The cover rules ask, for one left-out mask after another, which accounts not left out repeat the
    footprint of an account of a lower code also not left out (``repeated``). Hashing every account's
    keys once per mask cost most of a cover rule's time with weeks of history; grouped once here, a mask
    is judged by a gather and a running count over the accounts that share a footprint, a few of all.
    """

    n_accounts: int
    members: npt.NDArray[np.int64]  # accounts sharing a footprint, grouped by footprint, by code within
    starts: npt.NDArray[np.bool_]  # per member: the first of its footprint's group

    @classmethod
    def of(cls, keys: npt.NDArray[np.uint64]) -> _Repeats:
        """The groups of ``keys`` (per account two 64-bit keys; 0, 0: no footprint)."""
        has = np.flatnonzero((keys != 0).any(axis=1))
        members = has[pd.DataFrame(keys[has]).duplicated(keep=False).to_numpy()]
        held = keys[members]
        # a stable sort: within a footprint the accounts keep their ascending codes
        order = np.lexsort((held[:, 1], held[:, 0]))
        members, held = members[order], held[order]
        starts = np.r_[True, (held[1:] != held[:-1]).any(axis=1)] if len(members) else np.zeros(0, bool)
        return cls(len(keys), members, np.asarray(starts, dtype=bool))

    def repeated(self, left_out: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Per account: not ``left_out``, and its footprint is an account's of a lower code also not
        left out (of each footprint among the accounts kept, one account counts)."""
        out = np.zeros(self.n_accounts, dtype=bool)
        if not len(self.members):
            return out
        alive = ~left_out[self.members]
        # accounts kept before each member, then before its group's first member
        before: npt.NDArray[np.int64] = np.cumsum(alive) - alive
        first = np.flatnonzero(self.starts)
        within: npt.NDArray[np.int64] = before - before[first][np.cumsum(self.starts) - 1]
        out[self.members[alive & (within > 0)]] = True
        return out
