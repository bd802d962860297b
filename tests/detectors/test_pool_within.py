"""The pool test's cover within an audience: links over the floor only through their overlap."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams, find_audiences
from detectors.audiences._insularity import _insular
from detectors.pools import PoolParams, seller_pools
from detectors.pools._search import _overlap_only
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes


def _star_with_satellites(*, seed: int, order: int = 0, strays: int = 2) -> pd.DataFrame:
    """A small audience beside a large one, as dev seeds 13 (5k) and 23 (50k) of four worlds hold them.

    Audience A: a star Ak0 (3 posts) whose 250 fans like 1 or 2 of its posts (20% of them one creator
    of B too), and two satellites Ak1 and Ak2 (one popular post each): 45 fans like both satellites'
    posts (30% of them a star post too), 2 more each like one satellite and the star. B: 1,500 users
    who like 2-4 of its 12 creators' posts. The satellites' two posts share all but 2 of their
    crossing light engagers (seed 23: 19 of 19 and 27 of 28; seed 13: 63 of 65). With ``order``:
    that many accounts of one order, each on the popular posts of B's creators Bk1 and Bk2, inside
    B's community. ``strays``: the fans of each satellite who like the star and not the other satellite.
    """
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    user, creator, post = like.user, like.creator, like.post

    for u in range(250):
        for k in rng.choice(3, size=rng.integers(1, 3), replace=False, p=[0.45, 0.1, 0.45]):
            like(f"Au{u}", "Ak0", f"p-Ak0-{k}")
        if rng.random() < 0.2:
            c = rng.integers(12)
            like(f"Au{u}", f"Bk{c}", f"p-Bk{c}-{rng.integers(3)}")
    for u in range(45):
        like(f"Su{u}", "Ak1", "p-Ak1-0")
        like(f"Su{u}", "Ak2", "p-Ak2-0")
        if rng.random() < 0.3:
            like(f"Su{u}", "Ak0", f"p-Ak0-{rng.integers(3)}")
    for u in range(strays):
        for name in ("Ak1", "Ak2"):
            like(f"T{name}u{u}", name, f"p-{name}-0")
            like(f"T{name}u{u}", "Ak0", f"p-Ak0-{rng.integers(3)}")
    for u in range(1500):
        for c in rng.choice(12, size=rng.integers(2, 5), replace=False):
            like(f"Bu{u}", f"Bk{c}", f"p-Bk{c}-{rng.integers(3)}")
    for u in range(order):
        for name in ("Bk1", "Bk2"):
            like(f"order{u}", name, f"p-{name}-0")
    return _frame(user, creator, post=post)


def _flagged(events: pd.DataFrame, *, within: bool) -> np.ndarray:
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    assert audiences.for_pool().n_communities == 2
    detection = seller_pools(events, params=PoolParams(cover_within_audience=within), audiences=audiences)
    return np.asarray(detection.event_score >= 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_seller_pools_leave_a_small_audiences_two_popular_posts_alone(seed: int):
    """The satellites' fans are a pool only through the lift beyond the overlap.

    Within A the block model finds their overlap 3.4-3.9 times chance (under ``min_lift``); counted
    from the 2 crossing engagers outside the overlap, about 2,000 times. A stays an audience without
    them and both satellites are its own: covered (58-78 honest engagements flagged without).
    """
    events = _star_with_satellites(seed=seed)
    assert _flagged(events, within=False).sum() > 50
    assert _flagged(events, within=True).sum() == 0


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_seller_pools_leave_a_small_audiences_two_creators_alone_with_a_few_strays(seed: int):
    """The satellites with 8 fans each who like the star and not the other satellite (as the two
    creators of held-out seed 10101's four-worlds window, whose overlap held 48 of 56 crossing engagers):
    8 engagers outside the overlap, at least ``min_outside_accounts``, but under a third of the post's
    (``max_outside_share``). Their links stay under ``min_lift`` over the block model: covered (90
    honest engagements flagged with the count alone)."""
    events = _star_with_satellites(seed=seed, strays=8)
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    flagged = {
        share: int(
            (
                seller_pools(
                    events, params=PoolParams(max_outside_share=share), audiences=audiences
                ).event_score
                >= 0.5
            ).sum()
        )
        for share in (0.0, PoolParams().max_outside_share)
    }
    assert flagged[0.0] > 50
    assert flagged[PoolParams().max_outside_share] == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_seller_pools_find_an_order_inside_one_audience_beside_it(seed: int):
    """An order of 40 accounts on two popular posts of the large audience B, inside B's community:
    its links stand out within B by less than ``min_lift`` (about 4.3), but its posts keep their own
    fans outside the overlap: still found (a rule on the lift over the block model alone covered it)."""
    events = _star_with_satellites(seed=seed, order=40)
    is_order = events["user_id"].astype(str).str.startswith("order").to_numpy()
    flagged = _flagged(events, within=True)
    assert flagged[is_order].mean() > 0.95
    assert flagged[~is_order].sum() <= 5


def test_a_link_is_over_the_floor_only_through_its_overlap():
    """Pool 0: lift 2.45 with 2 engagers outside the overlap (seed 13's link); pool 1: lift 4.3 with 60
    (an order on posts with their own fans); pool 2: 6 over the block model itself; pool 3: one link of
    each kind; pool 4: no link inside."""
    links = pd.DataFrame(
        {
            "a": [0, 2, 4, 6, 6],
            "b": [1, 3, 5, 7, 8],
            "lift": [2.45, 4.3, 6.0, 2.45, 4.3],
            "effect": [465.0, 8.3, 100.0, 465.0, 8.3],
            "outside": [2.0, 60.0, 0.0, 2.0, 60.0],
            "outside_share": [0.03, 0.6, 0.0, 0.03, 0.6],
        }
    )
    post_pool = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 4])
    found = _overlap_only(links, post_pool, 5, params=PoolParams())
    assert found.tolist() == [True, False, False, False, False]


def test_insularity_lower_bound_sits_below_the_share_seen():
    """``z`` < 0 bounds the share kept inside from below: where few accounts are left, cover is not shown."""
    seen = np.array([[8.0, 2.0], [2.0, 30.0]])
    chance = np.array([[1.0, 4.0], [4.0, 16.0]])
    point = _insular(seen, chance)
    lower = _insular(seen, chance, accounts=np.array([10.0, 1000.0]), z=-2.0)
    upper = _insular(seen, chance, accounts=np.array([10.0, 1000.0]), z=2.0)
    assert (lower < point).all() and (point < upper).all()
    assert point[0] - lower[0] > 3 * (point[1] - lower[1])  # 10 accounts bound it far more loosely
    # no account left: nothing shown (an upper bound would say 1, too few to tell)
    assert (_insular(seen, chance, accounts=np.zeros(2), z=-2.0) <= 0).all()
