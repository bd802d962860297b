"""``window_alone`` (ip_farm's and spreading's) on the shards of a window with history: the window-only
IP statistics (``detectors.chance``: ``ip_window_pairs...``) and each account's window-only spreading
evidence (``detectors.spread.window_alone_part``) gathered over the shards give every shard the single
process's verdicts, also a shard that holds none of the history that diluted the union's."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.chance import chance_frame, combine_parts, window_chance
from detectors.history import HISTORY_COLUMN
from detectors.infra import IpFarmParams, shared_infrastructure
from detectors.spread import (
    SPREAD_COLUMNS,
    SpreadParams,
    alone_label,
    detector_rows,
    spread_part,
    spread_rows,
    spread_to_accounts,
    window_alone_part,
)
from tests.detectors.test_history_window_alone import _account_weeks, _farm_weeks


def _split(frame: pd.DataFrame, in_first: npt.NDArray[np.bool_]) -> list[pd.DataFrame]:
    """The rows ``in_first`` and the others, each a shard."""
    return [frame.loc[in_first].reset_index(drop=True), frame.loc[~in_first].reset_index(drop=True)]


def _farm_shards() -> tuple[pd.DataFrame, npt.NDArray[np.bool_], list[pd.DataFrame]]:
    """The farm window with history (``_farm_weeks``) in two shards by post: the window's posts p0-p49
    (the farm's post p0, no history row) and the rest with all of history (where the farm's IP was busy)."""
    events = _farm_weeks(window_workers=5, history_workers=6)
    post = events["post_id"].astype(str)
    first = post.str.fullmatch(r"p[0-4]?[0-9]").to_numpy()
    return events, first, _split(events, first)


def test_a_shard_without_history_keeps_the_windows_farm_with_the_window_only_statistics() -> None:
    events, in_first, shards = _farm_shards()
    assert not shards[0][HISTORY_COLUMN].any() and shards[1][HISTORY_COLUMN].any()
    params = IpFarmParams(window_alone=True)
    one = shared_infrastructure(events, params=params)
    parts = pd.concat([chance_frame(s, window_alone=True) for s in shards], ignore_index=True)
    statistics = window_chance(combine_parts(parts))
    assert statistics.ip_window is not None
    found = [
        shared_infrastructure(s, params=params, chance=statistics.ip, window_chance=statistics.ip_window)
        for s in shards
    ]
    np.testing.assert_array_equal(found[0].event_score, one.event_score[in_first])
    np.testing.assert_array_equal(found[1].event_score, one.event_score[~in_first])
    is_worker = shards[0]["user_id"].astype(str).str.startswith("w").to_numpy()
    assert is_worker.sum() == 5 and (found[0].event_score[is_worker] >= 0.7).all()
    # without the window-only statistics the shard judges the union only: the farm is explained away
    union = shared_infrastructure(shards[0], params=params, chance=statistics.ip)
    assert (union.event_score[is_worker] == 0).all()


def test_without_the_knob_the_statistics_are_the_unions_only() -> None:
    events, _, _ = _farm_shards()
    frame = chance_frame(events)
    assert not frame["statistic"].str.startswith("ip_window").any()
    assert window_chance(frame).ip_window is None


def _spread_shards() -> tuple[pd.DataFrame, list[pd.DataFrame], Detection, npt.NDArray[np.bool_]]:
    """``_account_weeks`` (w1: 1 of 2 window engagements caught, 6 uncaught in history) in two shards:
    w1's caught window row with its history, and its other window row with the honest fan h1."""
    frame, detection = _account_weeks()
    first = np.zeros(len(frame), dtype=bool)
    first[[0, *range(2, 8)]] = True
    return frame, _split(frame, first), detection, first


def test_spreading_on_a_shard_reads_the_window_alone_evidence_of_every_shard() -> None:
    frame, shards, detection, first = _spread_shards()
    params = SpreadParams(window_alone=True)
    one = spread_to_accounts(detection, frame, params=params)
    assert one.event_score[1] == 0.9  # w1's uncaught window row, in the second shard
    pieces = [_part(detection, first), _part(detection, ~first)]
    parts = []
    for shard, piece in zip(shards, pieces, strict=True):
        parts.append(spread_part(piece, shard, params=params))
        parts.append(window_alone_part(piece, shard, params=params))
    summed = pd.concat(parts).groupby(["detector", "user_id"], as_index=False)
    evidence = summed.agg(
        caught=("caught", "sum"),
        total=("total", "sum"),
        strongest=("strongest", "max"),
        evidence=("evidence", "max"),
    )
    evidence = evidence[evidence["caught"] > 0][list(SPREAD_COLUMNS)]
    assert alone_label("ip_farm") in set(evidence["detector"])
    window = detector_rows(evidence, "ip_farm")
    for shard, piece, rows in zip(shards, pieces, (first, ~first), strict=True):
        found = spread_to_accounts(piece, shard, params=params, window=window)
        np.testing.assert_array_equal(found.event_score, one.event_score[rows])
    # the union's evidence alone (no window-alone rows) leaves w1's row in the second shard unraised
    union = spread_to_accounts(
        pieces[1], shards[1], params=params, window=window[window["detector"] == "ip_farm"]
    )
    assert union.event_score[0] == 0.0
    # the seller-IP rule's count of accounts caught by spreading takes the higher of the two
    caught = spread_rows(evidence, params=params, names=frozenset({"ip_farm"}))
    assert set(caught.loc[caught["user_id"] == "w1", "detector"]) == {"ip_farm"}
    assert caught.loc[caught["user_id"] == "w1", "spread"].max() == 0.9


def _part(detection: Detection, rows: npt.NDArray[np.bool_]) -> Detection:
    """``detection``'s scores of ``rows`` (a shard's)."""
    return Detection(
        detection.name, detection.event_score[rows], detection.event_group[rows], detection.groups
    )
