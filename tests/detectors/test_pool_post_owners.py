"""Each post's creator's own account (``detectors.pools._floor._post_owners``, what the engagement-pod
exception of the book's floor reads): the creators of the posts are looked up among the accounts, not
the accounts among the creators, so a window with history (a million accounts in the categories) does
not hash them all on every platform."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.pools._floor import _post_owners
from detectors.pools._search import _Light
from features.arrays import codes


def _light(frame: pd.DataFrame) -> tuple[_Light, int]:
    """The codes ``_post_owners`` reads of ``frame`` (posts in order of first row); the number of posts."""
    posts, post_ids = pd.factorize(frame["post_id"])
    users = codes(frame["user_id"])
    ok = (users >= 0) & (posts >= 0)
    none = np.zeros(0, dtype=np.int64)
    return _Light(
        users, posts.astype(np.int64), ok, none, none, np.zeros(len(post_ids), dtype=np.int64)
    ), len(post_ids)


def test_each_post_gets_its_creators_own_account_among_many_accounts():
    """Planted: 2,000 accounts in the categories (most on no row of this platform, as a union's are),
    three creators: "c1" engages (its account is a row's), "c2" engages too, "c3" has an account in the
    categories (a history row of another platform, say) but on none of these rows; one row without a post.
    The owner of each post is the code of its creator's account, -1 for c3's post."""
    accounts = [f"u{i}" for i in range(2000)] + ["c1", "c2", "c3"]
    user = pd.Categorical(["u5", "c1", "u7", "c2", "u9", "u5", "c1"], categories=accounts)
    creators = pd.Categorical(["c1", "c1", "c2", "c3", "c3", "c2", "c2"], categories=["c3", "c2", "c1", "zz"])
    frame = pd.DataFrame(
        {"user_id": user, "creator_id": creators, "post_id": ["p1", "p1", "p2", "p3", "p3", None, "p2"]}
    )
    light, n_posts = _light(frame)
    owners = _post_owners(frame, light, n_posts)
    assert owners.tolist() == [accounts.index("c1"), accounts.index("c2"), -1]


def test_no_creator_engages():
    """Planted: no creator's own account among the accounts: every owner is -1 (also with no post known)."""
    frame = pd.DataFrame(
        {
            "user_id": pd.Categorical(["a", "b"], categories=["a", "b"]),
            "creator_id": pd.Categorical(["x", "y"], categories=["x", "y"]),
            "post_id": ["p1", "p2"],
        }
    )
    light, n_posts = _light(frame)
    assert _post_owners(frame, light, n_posts).tolist() == [-1, -1]
    nothing = _Light(
        *(np.full(2, -1, dtype=np.int64),) * 2, np.zeros(2, dtype=bool), *(np.zeros(0, dtype=np.int64),) * 3
    )
    assert _post_owners(frame, nothing, 2).tolist() == [-1, -1]
