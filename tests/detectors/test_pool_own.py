"""The sub-audience cover without a pool's own accounts: a seller's accounts its membership did not take."""

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.audiences import post_codes
from detectors.pools import PoolParams
from detectors.pools._detector import _light_pairs
from detectors.pools._search import _Light
from detectors.pools._sub_audience import _left_out, _own, _sub_audience
from features.arrays import codes
from tests.detectors.test_pools import _frame


def _community(*, seed: int, extra: list[tuple[str, int, int]], fans: int = 300) -> pd.DataFrame:
    """A community of 12 creators (3 posts each) whose ``fans`` like posts of 2-4 of them at random,
    plus ``extra`` likes (account, creator, post)."""
    rng = np.random.default_rng(seed)
    likes = [
        (f"u{u}", int(c), int(rng.integers(3)))
        for u in range(fans)
        for c in rng.choice(12, size=rng.integers(2, 5), replace=False)
    ]
    user, creator, post = zip(*(likes + extra), strict=True)
    return _frame(
        list(user),
        [f"k{c}" for c in creator],
        post=[f"p-k{c}-{p}" for c, p in zip(creator, post, strict=True)],
    )


def _book(*, seed: int, members: int = 60, left: int = 500) -> list[tuple[str, int, int]]:
    """A seller's book on the posts of creators 0-3: ``members`` accounts on 4-5 of those posts
    (its pool) and ``left`` on 2-3 of them, which the pool's membership did not take (as where honest
    accounts like them are too many to call)."""
    rng = np.random.default_rng(seed + 100)
    return [
        (f"{prefix}{account}", int(order // 3), int(order % 3))
        for prefix, n, sizes in (("member", members, (4, 6)), ("left", left, (2, 4)))
        for account in range(n)
        for order in rng.choice(12, size=rng.integers(*sizes), replace=False)
    ]


def _judged(events: pd.DataFrame, *, without_own: bool) -> bool:
    """Whether creators 0-3 read as an audience inside the community, the pool being the members'
    events (``_sub_audience``, its accounts left out as ``_covered_as_sub_audience`` leaves them)."""
    params = PoolParams()
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    ok = (users >= 0) & (posts >= 0)
    pair_user, pair_post, user_units = _light_pairs(
        events["user_id"], users[ok], posts[ok], len(post_ids), params=params, chance=None
    )
    creator = pd.Series(post_ids).astype(str).str.extract(r"p-k(\d+)-")[0]
    unit: npt.NDArray[np.int64] = np.asarray(creator.astype(int), dtype=np.int64)
    light = _Light(users, posts, ok, pair_user, pair_post, unit, user_units)
    # the pool: its members' events on creators 0-3
    events_of_pool = events["user_id"].astype(str).str.startswith("member").to_numpy() & (unit[posts] < 4)
    event_pool = np.where(events_of_pool, 0, -1)
    left_out = _left_out(light, event_pool, np.zeros(12, dtype=bool), light.repeats)
    if without_own:
        left_out |= _own(light, events_of_pool & ok)
    home, mine = np.ones(12, dtype=bool), np.arange(12) < 4
    return _sub_audience(light, home, mine, left_out, params=params)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_books_accounts_outside_its_pool_do_not_make_its_clients_an_audience(seed: int):
    """Counted as the clients' fans, the book's accounts that the pool did not take keep their
    co-engagement on its clients, who read as a smaller audience inside the community (and the search
    with them as a community of their own then explains the pool away). Their every light post is the
    pool's: left out, the clients' other fans spread over the community as its chance says."""
    events = _community(seed=seed, extra=_book(seed=seed))
    assert _judged(events, without_own=False)
    assert not _judged(events, without_own=True)
