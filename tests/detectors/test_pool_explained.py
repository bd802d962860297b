"""The pool test's chance without the accounts other detectors explained (lockstep bots)."""

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams, seller_pools
from detectors.registry import BY_NAME
from tests.detectors.test_pools import _frame


def _small_audience_with_bots(*, seed: int, order: int = 0) -> pd.DataFrame:
    """A small platform, one audience, as held-out seed 9701's small community holds it.

    120 users ("B") like 2-4 of 10 creators' posts (half of them a satellite of a star too); 100 fans
    ("F") like a star's post and 1-2 of its 6 satellites'. 400 lockstep bots like 3 of the 4 posts of
    4 creators X0-X3, nearly two thirds of the light engagement. With ``order``: that many accounts of
    a seller's order on X0 (a post the bots hold) and on three of B's creators.
    """
    rng = np.random.default_rng(seed)
    user, creator, post = [], [], []

    def like(account: str, name: str) -> None:
        user.append(account)
        creator.append(name)
        post.append(f"p-{name}")

    for u in range(100):
        like(f"F{u}", "K0")
        for s in rng.choice(6, size=rng.integers(1, 3), replace=False):
            like(f"F{u}", f"K{s + 1}")
    for u in range(120):
        for c in rng.choice(10, size=rng.integers(2, 5), replace=False):
            like(f"B{u}", f"G{c}")
        if rng.random() < 0.5:
            like(f"B{u}", f"K{rng.integers(6) + 1}")
    for u in range(400):
        for x in rng.choice(4, size=3, replace=False):
            like(f"bot{u}", f"X{x}")
    for u in range(order):
        for name in ("X0", "G3", "G7", "G9"):
            like(f"order{u}", name)
    return _frame(user, creator, post=post)


def _flagged(events: pd.DataFrame, *, explained: bool) -> pd.Series:
    """Flagged events per account kind (the user id's letters)."""
    users = events["user_id"].astype("str")
    bots = pd.Index(users[users.str.startswith("bot")].unique(), dtype="str") if explained else None
    detection = seller_pools(events, params=PoolParams(chance_without_explained=True), explained=bots)
    kind = users.str.extract(r"^([A-Za-z]+)", expand=False)
    return kind[np.asarray(detection.event_score >= 0.5)].value_counts()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_seller_pools_leave_a_small_audience_alone_beside_lockstep_bots(seed: int):
    """The bots spend their pairs on their own four posts; counted as chance they dilute the rate of
    every other post, and B's ordinary overlap reads as a pool (about 300 of its events). Left out of
    the chance masses (their rows stay), B is an audience again."""
    events = _small_audience_with_bots(seed=seed)
    assert _flagged(events, explained=False).get("B", 0) > 250
    with_bots_explained = _flagged(events, explained=True)
    assert with_bots_explained.get("B", 0) == 0
    assert with_bots_explained.get("F", 0) == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_seller_pools_find_an_order_sharing_a_post_with_lockstep_bots(seed: int):
    """An order of 30 accounts on a bots' post and three of B's creators: found, on B's three posts,
    with the bots left out of chance (their rows, the order's shared post among them, stay)."""
    events = _small_audience_with_bots(seed=seed, order=30)
    assert _flagged(events, explained=True).get("order", 0) >= 90


def test_pool_starts_after_lockstep_only_when_its_chance_leaves_lockstep_out():
    spec = BY_NAME["pool"]
    assert spec.waits_for(PoolParams(chance_without_explained=True)) == ("lockstep",)
    assert spec.waits_for(PoolParams(chance_without_explained=False)) == ()
