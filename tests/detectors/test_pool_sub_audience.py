"""The pool test's cover by a sub-audience: a small audience's keen fans in a community a book widened."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams, find_audiences
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes


def _small_audience_tied_to_a_stranger(
    *, seed: int, order_on: str = "", popular_post: bool = False
) -> pd.DataFrame:
    """A small audience widened by a seller's book, as dev seeds 31 and 33 (50k, three communities) hold it.

    Audience A: 3 creators (2 posts each), 150 fans who like posts of 2 or 3 of them. B and C: 12
    creators each, 1,500 users who like 2-4. X: a popular creator (3 posts) whose 2,000 fans each like
    one of its posts and one creator of B or C. A book no test catches: 400 accounts, each on a post of
    one of A's creators and one of X's, ties X into A's community; X's engagers dilute the community's
    chance and A's keen fans read as a pool. With ``order_on``: 40 accounts of one order, each on post 0
    of that audience's creators 1, 2 and 3. With ``popular_post``: a popular post 2 of each of A's
    creators, liked by 4 in 5 of the keen fans for each of their creators and by 600 of the creator's
    casual fans, each with a post of B (``test_pool_fans``).
    """
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    user, creator, post = like.user, like.creator, like.post

    for u in range(150):
        for c in rng.choice(3, size=rng.integers(2, 4), replace=False):
            like(f"Au{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
            if popular_post and rng.random() < 0.8:
                like(f"Au{u}", f"Ak{c}", f"p-Ak{c}-2")
    for c in range(3 if popular_post else 0):
        for u in range(600):
            like(f"Ac{c}-{u}", f"Ak{c}", f"p-Ak{c}-2")
            b = rng.integers(12)
            like(f"Ac{c}-{u}", f"Bk{b}", f"p-Bk{b}-{rng.integers(3)}")
    for name in "BC":
        for u in range(1500):
            for c in rng.choice(12, size=rng.integers(2, 5), replace=False):
                like(f"{name}u{u}", f"{name}k{c}", f"p-{name}k{c}-{rng.integers(3)}")
    for u in range(2000):
        like(f"Xu{u}", "Xk0", f"p-Xk0-{rng.integers(3)}")
        name, c = "BC"[rng.integers(2)], rng.integers(12)
        like(f"Xu{u}", f"{name}k{c}", f"p-{name}k{c}-{rng.integers(3)}")
    for u in range(400):
        like(f"book{u}", f"Ak{u % 3}", f"p-Ak{u % 3}-0")
        like(f"book{u}", "Xk0", f"p-Xk0-{u % 3}")
    for u in range(40 if order_on else 0):
        for c in (1, 2, 3):
            like(f"order{u}", f"{order_on}k{c}", f"p-{order_on}k{c}-0")
    return _frame(user, creator, post=post)


def _flagged(
    events: pd.DataFrame,
    *,
    sub_audience: bool,
    without_own: bool = False,
    popularity_ratio: float = 0.0,
    book_floor: bool = False,
) -> tuple[np.ndarray, pd.Series]:
    """Flags and each post's community; chance counted with one rate per community unless
    ``popularity_ratio`` (X's popular posts dilute A's rate: the case this cover was built for). The
    book's floor (``book_needs_min_accounts``) off unless ``book_floor``: it alone keeps A's fans (the
    handful the search finds gets no book), and these tests show the sub-audience cover's part."""
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    pooled = audiences.for_pool()
    posts = pd.Index(sorted(events["post_id"].astype(str).unique()))
    community = pd.Series(pooled.communities(pooled.units(posts.to_numpy())), index=posts)
    params = PoolParams(
        cover_sub_audience=sub_audience,
        sub_audience_without_own=without_own,
        popularity_ratio=popularity_ratio,
        book_needs_min_accounts=book_floor,
    )
    detection = seller_pools(events, params=params, audiences=audiences)
    return np.asarray(detection.event_score >= 0.5), community


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_seller_pools_leave_a_small_audience_alone_inside_a_community_a_book_widened(seed: int):
    """X is in A's community; counted at that community's rate, A's keen fans are a pool (183-255
    honest engagements flagged, seeds 0-5). Without them A's other fans still keep to A's creators
    inside the community, and judged with A as a community of its own they are chance: covered."""
    events = _small_audience_tied_to_a_stranger(seed=seed)
    accounts = events["user_id"].astype(str)
    before, community = _flagged(events, sub_audience=False)
    assert community["p-Xk0-0"] == community["p-Ak0-0"] == community["p-Ak2-1"]
    assert community["p-Bk0-0"] != community["p-Ak0-0"]
    assert before[accounts.str.startswith("Au").to_numpy()].sum() > 150
    floored, _ = _flagged(events, sub_audience=False, book_floor=True)
    assert floored[~accounts.str.startswith("book").to_numpy()].sum() == 0
    after, _ = _flagged(events, sub_audience=True)
    assert after[~accounts.str.startswith("book").to_numpy()].sum() == 0
    # A's fans like its creators' other posts too: none is the pool's own, and A stays an audience without
    # the pool's own accounts (``sub_audience_without_own``)
    after, _ = _flagged(events, sub_audience=True, without_own=True)
    assert after[~accounts.str.startswith("book").to_numpy()].sum() == 0
    # and with chance counted among posts of the links' own popularity (``popularity_ratio`` 2)
    ratio = 2.0
    tiered, _ = _flagged(events, sub_audience=True, without_own=True, popularity_ratio=ratio)
    assert tiered[~accounts.str.startswith("book").to_numpy()].sum() == 0


@pytest.mark.parametrize("without_own", [False, True])
@pytest.mark.parametrize("seed", [0, 2, 4])
def test_seller_pools_find_an_order_inside_a_large_audience_beside_a_widened_community(
    seed: int, without_own: bool
):
    """An order on three of B's creators: their other fans spread over B as its chance says (B holds
    them among 12), so the order's creators are no audience of their own there and it is found."""
    events = _small_audience_tied_to_a_stranger(seed=seed, order_on="B")
    is_order = events["user_id"].astype(str).str.startswith("order").to_numpy()
    flagged, _ = _flagged(events, sub_audience=True, without_own=without_own)
    assert flagged[is_order].mean() > 0.95
    assert flagged[~is_order & ~events["user_id"].astype(str).str.startswith("book").to_numpy()].sum() <= 5


def test_the_sub_audience_cover_is_shown_errors_down():
    """``sub_audience_errors`` (pool50k; 2, as ``cover_errors``): the cover must be shown that many errors
    down. So many errors that no count shows it leaves A's keen fans flagged, as without the cover (and
    without the book's floor)."""
    events = _small_audience_tied_to_a_stranger(seed=0)
    fans = events["user_id"].astype(str).str.startswith("Au").to_numpy()
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    flagged = {
        errors: np.asarray(
            seller_pools(
                events,
                params=PoolParams(sub_audience_errors=errors, book_needs_min_accounts=False),
                audiences=audiences,
            ).event_score
            >= 0.5
        )
        for errors in (2.0, 1.0, 50.0)
    }
    assert flagged[2.0][fans].sum() == flagged[1.0][fans].sum() == 0
    assert flagged[50.0][fans].sum() > 150
