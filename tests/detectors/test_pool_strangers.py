"""The pool test's strangers: which creators of a community an order tied in, judged by whose fans."""

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.audiences import light_pairs, post_codes
from detectors.pools import PoolParams
from detectors.pools._cover import _stranger_judges, _strangers
from detectors.pools._repeats import _Repeats
from features.arrays import codes, footprints
from features.dedup import distinct_engagements
from tests.factories import clean


def _small_audience_with_a_star(*, seed: int, order: int = 0) -> pd.DataFrame:
    """Audience A (5 creators, 300 users who like 2 or 3, the star Ak0 three times as often as each
    other) beside B (10 creators, 1,500 users who like 2-4), 2% of users crossing, each creator with 3
    posts; 150 of the star's fans also like 2 or 3 of B's creators Bk0-Bk7 (dev seeds 19 and 22,
    50k events, communities=2 and communities=3+studios+giveaways: a small audience's most popular
    creator, whose fans also follow the large audience). With ``order``: that many accounts of one
    order, each on the same bought posts of Ak1 and Bk8."""
    rng = np.random.default_rng(seed)
    user, creator, post = [], [], []

    def like(account: str, name: str, bought: str | None = None) -> None:
        user.append(account)
        creator.append(name)
        post.append(bought or f"p-{name}-{rng.integers(3)}")

    weight = np.array([3.0, 1.0, 1.0, 1.0, 1.0])
    for u in range(300):
        for c in rng.choice(5, size=rng.integers(2, 4), replace=False, p=weight / weight.sum()):
            like(f"Au{u}", f"Ak{c}")
        if rng.random() < 0.02:
            like(f"Au{u}", f"Bk{rng.integers(10)}")
    for u in range(1500):
        for c in rng.choice(10, size=rng.integers(2, 5), replace=False):
            like(f"Bu{u}", f"Bk{c}")
        if rng.random() < 0.02:
            like(f"Bu{u}", f"Ak{rng.integers(5)}")
    for u in range(150):
        like(f"Su{u}", "Ak0")
        for c in rng.choice(8, size=rng.integers(2, 4), replace=False):
            like(f"Su{u}", f"Bk{c}")
    for u in range(order):
        like(f"order{u}", "Ak1", "p-Ak1-bought")
        like(f"order{u}", "Bk8", "p-Bk8-bought")
    n = len(user)
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "platform": "douyin",
            "campaign_id": "cmp1",
            "post_id": post,
            "creator_id": creator,
            "user_id": user,
            "action": "like",
            "ts": pd.Timestamp("2026-11-02T12:00:00Z") + pd.to_timedelta(np.arange(n) % 86_400, unit="s"),
        }
    )
    return distinct_engagements(clean(events))


def _moved(events: pd.DataFrame, *, by_footprint: bool) -> dict[str, int]:
    """Per creator of A's community (A's five, and B's Bk8 and Bk9, which the communities found put
    there; B's others are a community of their own): whether ``_strangers`` moves it out, judged by
    the fans ``_stranger_judges`` keeps, with A's own fans (the small audience's candidate) left out."""
    params = PoolParams(cover_strangers_by_footprint=by_footprint)
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    pair_user, pair_post = light_pairs(users, posts, len(post_ids), params.min_posts, params.max_posts)
    # one unit per creator; A's community (0) holds A's creators and Bk8, Bk9
    creator_of_post = events.groupby("post_id", observed=True)["creator_id"].first().astype(str)
    creator = creator_of_post.reindex(post_ids).to_numpy()
    creators, post_unit = np.unique(creator, return_inverse=True)
    home_names = [f"Ak{c}" for c in range(5)] + ["Bk8", "Bk9"]
    community = np.where(np.isin(creators, home_names), 0, 1).astype(np.int64)
    n_users = int(users.max()) + 1
    left_out = np.zeros(n_users, dtype=bool)
    left_out[users[events["user_id"].astype(str).str.startswith("Au").to_numpy()]] = True
    keys = footprints(pair_user, pair_post, n_users)
    judges: npt.NDArray[np.bool_] = _stranger_judges(_Repeats.of(keys), left_out, params=params)
    kept = judges[pair_user]
    moved = _strangers(pair_user[kept], post_unit[pair_post][kept], community, 0, params=params)
    return {name: int(moved[np.flatnonzero(creators == name)[0]] != 0) for name in home_names}


@pytest.mark.parametrize("seed", [4, 5, 9, 11])
def test_a_small_audiences_star_is_no_stranger(seed: int):
    """The star of a small audience stays home; the large audience's creators go home to it.

    Without the audience's own fans (its candidate pool is most of them), what is left of the star's
    fans are those who also follow the large audience, and the star read as a stranger: every fan of
    the audience who liked it then crossed to a stranger and was flagged with the order (dev seed 19,
    50k, communities=2: 794 honest engagements; seed 22, communities=3+studios+giveaways: 604). Judged
    by every account, one per footprint, the audience's fans tie the star home.
    """
    events = _small_audience_with_a_star(seed=seed)
    old = _moved(events, by_footprint=False)
    assert old["Ak0"] == 1 and old["Bk8"] == old["Bk9"] == 1
    new = _moved(events, by_footprint=True)
    assert new == {"Ak0": 0, "Ak1": 0, "Ak2": 0, "Ak3": 0, "Ak4": 0, "Bk8": 1, "Bk9": 1}


def test_an_orders_accounts_tie_its_stranger_home_once():
    """An order of 200 accounts on the same posts of Ak1 and Bk8 is one footprint: it counts once,
    and Bk8, whose own fans follow B, still goes home to B."""
    events = _small_audience_with_a_star(seed=4, order=600)
    new = _moved(events, by_footprint=True)
    assert new["Bk8"] == 1 and new["Ak0"] == 0 and new["Ak1"] == 0
