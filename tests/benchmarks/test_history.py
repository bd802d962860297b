"""The history benchmark's view of what a co-engagement test can see in a window and its history."""

from __future__ import annotations

import pandas as pd

from benchmarks.history import two_creator_share


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_id", "user_id", "creator_id"])


def test_two_creator_share_counts_an_accounts_creators_over_the_window_and_its_history():
    # aged a1 engaged one creator twice (one creator in all the data), a2 a second creator only in the
    # history, a3 two creators in the window; the honest account is no scheme's
    aged = [
        ("e1", "a1", "k1"),
        ("e2", "a1", "k1"),
        ("e3", "a2", "k2"),
        ("e4", "a3", "k1"),
        ("e5", "a3", "k2"),
    ]
    current = _events([*aged, ("e6", "h1", "k1"), ("e7", "d1", "k3")])
    history = _events([("e8", "a2", "k3"), ("e9", "h1", "k9")])
    truth = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(1, 10)],
            "scheme": ["aged_accounts"] * 5 + ["organic", "drip_feed", "aged_accounts", "organic"],
        }
    )
    share = two_creator_share(current, history, truth)
    # a1's two engagements are unseen, a2's one and a3's two are seen: 3 of 5
    assert share == {"aged_accounts": 0.6, "drip_feed": 0.0}
    # without the history a2 is seen on one creator only
    assert two_creator_share(current, history.iloc[:0], truth) == {"aged_accounts": 0.4, "drip_feed": 0.0}
