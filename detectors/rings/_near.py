"""An account's neighbourhood chance: how the group's other engagers who share one of its members land."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.rings._window import FloatArray, IntArray

MaskArray = npt.NDArray[np.uint64]

# a member set is a bit mask in one uint64: a larger group keeps its group-wide rate alone
MAX_NEAR_UNITS = 62
# neighbourhood masks compared at once: bounds the (account masks x background masks) block
_BLOCK_CELLS = 4_000_000


def member_masks(
    accounts: IntArray, account: IntArray, creator: IntArray, member_unit: IntArray, unit: IntArray
) -> MaskArray | None:
    """Per account of ``accounts`` (sorted): the bit mask of the member units its rows reach.

    ``account`` and ``creator`` are the group's rows (sorted by account), ``member_unit`` the
    members' distinct units and ``unit`` per creator code its unit. None: more than
    ``MAX_NEAR_UNITS`` units.
    """
    if len(member_unit) > MAX_NEAR_UNITS:
        return None
    bit = np.left_shift(np.uint64(1), np.searchsorted(member_unit, unit[creator]).astype(np.uint64))
    if not len(account):
        return np.zeros(0, dtype=np.uint64)
    start = np.flatnonzero(np.r_[True, account[1:] != account[:-1]])
    masks = np.bitwise_or.reduceat(bit, start)
    return np.asarray(masks[np.searchsorted(account[start], accounts)], dtype=np.uint64)


def near_rate(
    masks: MaskArray,
    extra: FloatArray,
    spare: FloatArray,
    background: npt.NDArray[np.bool_],
    wanted: npt.NDArray[np.bool_],
    *,
    prior_rate: float,
    prior_pairs: float,
) -> FloatArray:
    """Per account: ``sum(extra) / sum(spare)`` over the background accounts that share a member
    with it (itself left out), pulled towards ``prior_rate`` by ``prior_pairs``; computed where
    ``wanted`` (0 elsewhere).

    ``extra`` is an account's picks on the group beyond its first, ``spare`` its picks beyond
    its first. A fan of one scene meets that scene's fans; an account engaging members of
    every scene the group spans meets all of its engagers, and its rate is the group's.
    """
    out = np.zeros(len(masks), dtype=np.float64)
    if not wanted.any():
        return out
    bg_masks, inverse = np.unique(masks[background], return_inverse=True)
    bg_extra = np.bincount(inverse, weights=extra[background], minlength=len(bg_masks))
    bg_spare = np.bincount(inverse, weights=spare[background], minlength=len(bg_masks))
    own_masks, own_inverse = np.unique(masks[wanted], return_inverse=True)
    near_extra = np.zeros(len(own_masks))
    near_spare = np.zeros(len(own_masks))
    step = max(1, _BLOCK_CELLS // max(len(bg_masks), 1))
    for lo in range(0, len(own_masks), step):
        meets = (own_masks[lo : lo + step, None] & bg_masks[None, :]) != 0
        near_extra[lo : lo + step] = meets @ bg_extra
        near_spare[lo : lo + step] = meets @ bg_spare
    self_in = background[wanted]  # an account is no evidence about its own chance
    num = near_extra[own_inverse] - np.where(self_in, extra[wanted], 0.0)
    den = near_spare[own_inverse] - np.where(self_in, spare[wanted], 0.0)
    den = np.maximum(den, 0.0) + prior_pairs
    rate = (np.maximum(num, 0.0) + prior_pairs * prior_rate) / np.maximum(den, 1e-12)
    out[wanted] = np.where(den > 0, rate, prior_rate)
    return out
