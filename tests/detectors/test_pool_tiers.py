"""The pool test's chance counted among posts of a link's own popularity (``pool__popularity_ratio``)."""

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import Audiences, post_codes
from detectors.pools import PoolParams
from detectors.pools._detector import _light_pairs
from detectors.pools._search import _Light, _linked_posts
from features.arrays import codes
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

TIERS = PoolParams(popularity_ratio=2.0)
Like = Callable[[str, str, str], None]


def _farm_beside_fans(*, seed: int, farm: int = 300, star: int = 0) -> tuple[pd.DataFrame, Audiences]:
    """One community of an independent creator Ik (3 posts), Jk (2) and a studio S (Sk0..Sk2, 2 posts
    each) whose 240 fans spread over them, and a lockstep farm of ``farm`` accounts on the 3 posts of
    creator Fk and on a post of each of two studio creators (as held-out seed 10101's 50k window: 306
    bots around a third creator, in the community of a studio and an independent creator with shared
    fans); beside it an audience of 1,500 users on 12 creators. The communities are given. With
    ``star``: that many more fans who like a popular post of Jk and one or two of the community's
    other posts at random."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    user, creator, post = like.user, like.creator, like.post

    for u in range(200):
        studio_fan(like, rng, f"Fu{u}", jk=0.5)
    for u in range(40):
        like(f"Ku{u}", "Ik", f"p-Ik-{rng.integers(2)}")
        for k in rng.choice(3, size=rng.integers(1, 3), replace=False):
            like(f"Ku{u}", f"Sk{k}", f"p-Sk{k}-0")
    others = [f"p-Ik-{k}" for k in range(3)] + [f"p-Sk{k}-{j}" for k in range(3) for j in range(2)]
    for u in range(star):
        like(f"Su{u}", "Jk", "p-Jk-2")
        for on in rng.choice(others, size=rng.integers(1, 3), replace=False):
            like(f"Su{u}", "Ik" if on.startswith("p-Ik") else on[2:5], on)
    farm_and_audience(like, rng, farm=farm)
    events = _frame(user, creator, post=post)
    posts = pd.Index(sorted(set(post)))
    names = posts.str.split("-").str[1]
    own = {"Ik": 0, "Jk": 1, "Sk": 2, "Fk": 3}  # the studio's creators are one unit
    unit = np.array([own[n[:2]] if n[:2] in own else 4 + int(n[2:]) for n in names], dtype=np.int64)
    community = np.r_[np.zeros(4, dtype=np.int64), np.ones(12, dtype=np.int64)]
    zeros = np.zeros(16, dtype=np.int64)
    return events, Audiences(posts, unit, community, zeros, zeros)


def studio_fan(like: Like, rng: np.random.Generator, account: str, *, jk: float) -> None:
    """A fan of independent creator Ik (1-2 of its 3 posts, p 0.6), of studio creators Sk0..Sk2 (1-2 of
    them, p 0.6) and of creator Jk (one of 2 posts, p ``jk``)."""
    if rng.random() < 0.6:
        for k in rng.choice(3, size=rng.integers(1, 3), replace=False):
            like(account, "Ik", f"p-Ik-{k}")
    if rng.random() < 0.6:
        for k in rng.choice(3, size=rng.integers(1, 3), replace=False):
            like(account, f"Sk{k}", f"p-Sk{k}-{rng.integers(2)}")
    if rng.random() < jk:
        like(account, "Jk", f"p-Jk-{rng.integers(2)}")


def farm_and_audience(like: Like, rng: np.random.Generator, *, farm: int) -> None:
    """A lockstep farm of ``farm`` bots on creator Fk's 3 posts and a post of studio creators Sk2 (and half
    of them Sk1), then an audience of 1,500 users on 12 creators Bk0..Bk11 (2-4 posts each)."""
    for u in range(farm):
        for k in range(3):
            like(f"bot{u}", "Fk", f"p-Fk-{k}")
        like(f"bot{u}", "Sk2", "p-Sk2-9")
        if rng.random() < 0.5:
            like(f"bot{u}", "Sk1", "p-Sk1-9")
    for u in range(1500):
        for c in rng.choice(12, size=rng.integers(2, 5), replace=False):
            like(f"Bu{u}", f"Bk{c}", f"p-Bk{c}-{rng.integers(3)}")


def planted_light(
    events: pd.DataFrame, audiences: Audiences, params: PoolParams
) -> tuple[_Light, pd.Index, np.ndarray]:
    """The pool search's light accounts of planted ``events``, their post ids and each unit's community."""
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    pair_user, pair_post, _ = _light_pairs(
        events["user_id"], users, posts, len(post_ids), params=params, chance=None
    )
    light = _Light(users, posts, users >= 0, pair_user, pair_post, audiences.units(post_ids))
    return light, post_ids, audiences.communities(np.arange(int(light.unit.max()) + 1))


def _links(events: pd.DataFrame, audiences: Audiences, params: PoolParams) -> pd.DataFrame:
    light, post_ids, community = planted_light(events, audiences, params)
    links = _linked_posts(light.overlap, light.unit, community[light.unit], params=params)
    farm = pd.Index(post_ids).str.endswith("-9") | pd.Index(post_ids).str.startswith("p-Fk")
    return links.assign(farm=farm[links["a"]] & farm[links["b"]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_farms_popular_posts_leave_the_fans_of_their_community_unlinked(seed: int):
    """The farm's 300-450 accounts on 5 posts are most of the community's block-model mass: counted in
    it, the fans' posts (40-50 crossing engagers each) hold a fifth of the share they hold among
    themselves, and their ordinary overlap reads as 3.7-5.3 times chance, 10-13 beyond the overlap:
    links (``popularity_ratio`` 0). Counted among posts at most twice as popular, no fans' link; the
    farm's own links (its 150-300 accounts on each pair of its posts) stay."""
    events, audiences = _farm_beside_fans(seed=seed)
    flat = _links(events, audiences, PoolParams())
    tiered = _links(events, audiences, TIERS)
    assert (~flat["farm"]).sum() >= 3
    assert (~tiered["farm"]).sum() == 0
    assert tiered["farm"].sum() == flat["farm"].sum() == 6


def test_tiers_keep_the_rate_of_a_community_without_a_dense_block():
    """Without the farm, and with a star post of 400 fans (8 times the others' crossing engagers) whose
    fans spread over the community at random: every post pair's chance is within 5% under either count
    (every pair sharing ``min_shared_accounts``, floors off), and no link either way. Where the posts
    spread the accounts as the block model says, leaving out the more popular posts keeps the rate."""
    events, audiences = _farm_beside_fans(seed=0, farm=0, star=400)
    every = replace(TIERS, min_lift=0.0, max_p_value=1e12)
    flat = _links(events, audiences, replace(every, popularity_ratio=0.0)).set_index(["a", "b"])
    tiered = _links(events, audiences, every).set_index(["a", "b"])
    ratio = (tiered["lift"] / flat["lift"]).to_numpy()
    assert len(ratio) > 500
    assert ratio.min() > 0.9 and ratio.max() < 1.1
    assert len(_links(events, audiences, TIERS)) == 0
    assert len(_links(events, audiences, PoolParams())) == 0
