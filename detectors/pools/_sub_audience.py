"""Cover by a sub-audience: a pool whose creators' other fans keep to them inside their community."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.audiences import Audiences, insularity_of_pairs
from detectors.pools._params import PoolParams
from detectors.pools._repeats import _Repeats
from detectors.pools._search import _Light, _search


def _covered_as_sub_audience(
    light: _Light, audiences: Audiences, event_pool: npt.NDArray[np.int64], *, params: PoolParams
) -> npt.NDArray[np.int64]:
    """``event_pool`` without the events of pools that a smaller audience inside their community explains.

    Chance within a community is one rate for all of its creators. A
    community found from the co-engagement can hold a smaller audience with
    creators it does not belong with (a seller's accounts on both tie them
    together): their engagers dilute the community's rate, and the small
    audience's keen fans read as a pool. What tells the two apart is the rest
    of the pool's creators' fans: a seller's accounts come on top of its
    clients' organic fans, who spread over the community as its chance says;
    an audience's other fans keep to its creators too. A pool of one
    community is judged so when its units are an audience inside it
    (``_sub_audience``); then its events stay only where the search with the
    pool's units as a community of their own finds them in a pool too, as it
    would had the finder found that audience (only flags are taken away).
    """
    out = event_pool.copy()
    pools = np.unique(event_pool[event_pool >= 0])
    if len(pools) == 0:
        return out
    n_units = int(light.unit.max()) + 1
    unit_community = audiences.communities(np.arange(n_units))
    event_unit = light.unit[np.maximum(light.posts, 0)]
    repeats = light.repeats if params.cover_footprints_once else None
    pooled = np.zeros(n_units, dtype=bool)
    pooled[np.unique(event_unit[light.ok & (event_pool >= 0)])] = True
    for pool in pools:
        events = light.ok & (event_pool == pool)
        mine = np.zeros(n_units, dtype=bool)
        mine[np.unique(event_unit[events])] = True
        homes = np.unique(unit_community[mine])
        if len(homes) != 1 or not ((unit_community == homes[0]) & ~mine).any():
            continue
        others = _other_pools(pooled, mine, unit_community == homes[0], params=params)
        left_out = _left_out(light, event_pool, others, repeats)
        if params.sub_audience_without_own:
            left_out |= _own(light, events)
        if not _sub_audience(light, unit_community == homes[0], mine, left_out, params=params):
            continue
        refined = unit_community.copy()
        refined[mine] = int(unit_community.max()) + 1
        again = _search(light, refined, params=params)[0]
        out[events & (again < 0)] = -1
    return out


def _other_pools(
    pooled: npt.NDArray[np.bool_],
    mine: npt.NDArray[np.bool_],
    home: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per unit: another pool's, whose accounts ``_left_out`` leaves out; with
    ``sub_audience_keeps_home_pools`` only those outside the community ``home``, where a seller's accounts
    would read as the units' audience (inside it they count as mixing)."""
    others = pooled & ~mine
    if params.sub_audience_keeps_home_pools:
        others &= ~home
    return others


def _left_out(
    light: _Light,
    event_pool: npt.NDArray[np.int64],
    others: npt.NDArray[np.bool_],
    repeats: _Repeats | None,
) -> npt.NDArray[np.bool_]:
    """Per account: no evidence of an audience. Every pool's accounts; the accounts that engaged a unit
    of another pool (``others``): a seller serves many clients, and its accounts that no pool holds
    still tie its orders together, where a fan of a small audience keeps to it; and, with ``repeats``
    (``cover_footprints_once``), the accounts whose footprint repeats an earlier account's."""
    left_out = np.zeros(int(light.users.max()) + 1, dtype=bool)
    left_out[light.users[light.ok & (event_pool >= 0)]] = True
    on_others = light.pair_user[others[light.pair_unit]]
    left_out[on_others] = True
    if repeats is not None:
        left_out |= repeats.repeated(left_out)
    return left_out


def _own(light: _Light, events: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per account: every light post of it is a post of the pool's ``events``, member or not.

    A seller's account fills orders and nothing else. One that the pool's membership did not take (it
    took one client's orders, or too few) is still the seller's, and its light posts are the pool's
    own; on the pool's units it keeps its co-engagement among them and reads as their audience. A fan
    of an audience engages its creators' other posts too, or other creators.
    """
    on_pool = np.zeros(len(light.unit), dtype=bool)
    on_pool[light.posts[events]] = True
    posts = light.account_pairs
    inside = np.bincount(light.pair_user[on_pool[light.pair_post]], minlength=len(posts))
    return np.asarray((posts > 0) & (inside == posts), dtype=bool)


def _sub_audience(
    light: _Light,
    home: npt.NDArray[np.bool_],
    mine: npt.NDArray[np.bool_],
    left_out: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> bool:
    """Whether the units ``mine`` are an audience inside their community (units ``home``): without the
    accounts ``left_out``, their light accounts' co-engagement stays among them beyond the share chance
    keeps there when it spreads them over the community's units alone (insularity within the community,
    ``sub_audience_errors`` errors down, at least ``sub_audience_min_insularity``). A part of a well-mixed
    audience is at chance (0), and so are a seller's clients' organic fans."""
    # the light pairs' distinct (account, unit) pairs, by account then unit: what the insularity counts
    user, unit = light.account_units
    kept = ~left_out[user] & home[unit]
    if not (kept & ~mine[unit]).any():
        # no account left on the community's other units: chance keeps every pair inside, and nothing
        # shows the units' fans keep to them rather than spread; the pool stands on its own lift
        return False
    side = mine.astype(np.int64)
    insular = insularity_of_pairs(user[kept], unit[kept], side, 2, z=-params.sub_audience_errors)
    return bool(insular[1] >= params.sub_audience_min_insularity)
