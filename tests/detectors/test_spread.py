"""Spreading a group's verdict to its accounts: what every detector's spreading shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.base import Detection
from detectors.spread import SpreadParams, account_rows, spread_part, spread_to_accounts


@pytest.fixture
def engagements() -> pd.DataFrame:
    # w1 a pool worker (3 of 4 caught), h1 an honest fan caught once of 5, c1 a creator's own account
    # caught on 3 of 4 (a pod creator's likes: its own, never spread)
    return pd.DataFrame(
        {
            "user_id": ["w1"] * 4 + ["h1"] * 5 + ["c1"] * 4,
            "post_id": ["p1", "p2", "p3", "q1", "p1", "q2", "q3", "q4", "q5", "p1", "p2", "p3", "q6"],
            "creator_id": ["c2", "c2", "c3", "c4", "c2", "c4", "c4", "c1", "c1", "c2", "c2", "c3", "c4"],
        }
    ).astype("category")


def _found(name: str, caught: list[int], n_rows: int, score: float) -> Detection:
    event_score, event_group = np.zeros(n_rows), np.full(n_rows, -1, dtype=np.int64)
    event_score[caught], event_group[caught] = score, 0
    return Detection(name, event_score, event_group, pd.DataFrame({"group_id": [0], "evidence": [name]}))


def test_account_rows_count_each_accounts_engagements_and_mark_the_creators_own(
    engagements: pd.DataFrame,
) -> None:
    rows = account_rows(engagements)
    labels = list(engagements["user_id"].cat.categories)
    assert dict(zip(labels, rows.n_total.tolist(), strict=True)) == {"c1": 4, "h1": 5, "w1": 4}
    assert rows.is_creator is not None
    np.testing.assert_array_equal(rows.is_creator, (engagements["user_id"] == "c1").to_numpy())
    # another shard's creator is a creator too
    other = account_rows(engagements, creators=pd.Index(["w1"]))
    assert other.is_creator is not None and other.is_creator[:4].all()
    with pytest.raises(ValueError):  # shared by every detector's thread: read only
        rows.n_total[0] = 0


def test_rows_taken_once_spread_every_detector_as_taken_for_each(engagements: pd.DataFrame) -> None:
    params = SpreadParams()
    n = len(engagements)
    found = [
        _found("dense_block", [0, 1, 2, 4, 9, 10, 11], n, 0.8),
        _found("ring", [0, 1, 5], n, 0.6),
        _found("pool", [8], n, 0.9),
    ]
    rows = account_rows(engagements)
    for detection in found:
        each = spread_to_accounts(detection, engagements, params=params)
        shared = spread_to_accounts(detection, engagements, params=params, rows=rows)
        np.testing.assert_array_equal(shared.event_score, each.event_score)
        np.testing.assert_array_equal(shared.event_group, each.event_group)
        pd.testing.assert_frame_equal(
            spread_part(detection, engagements, params=params, rows=rows),
            spread_part(detection, engagements, params=params),
        )
    block = spread_to_accounts(found[0], engagements, params=params, rows=rows)
    # the worker's fourth engagement is raised, the fan's and the creator's others are not
    assert block.event_score[3] == pytest.approx(0.72) and block.event_score[5:9].max() == 0.0
    assert block.event_score[12] == 0.0
