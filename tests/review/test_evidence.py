"""The case evidence and its SVG as pure functions of tiny frames."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from serving.review.charts import graph_svg, timeline_svg
from serving.review.evidence import (
    account_ages,
    clean_share,
    flagged_accounts,
    group_graph,
    shared_infrastructure,
    timeline,
)


def _verdicts() -> pd.DataFrame:
    ts = pd.Timestamp("2025-03-01T00:00:00Z")
    rows = [
        # post p1: two ring accounts (invalid), one doubtful, two organic
        ("e1", "p1", "u1", 0, 0.9, True, "lockstep"),
        ("e2", "p1", "u2", 0, 0.9, True, "lockstep"),
        ("e3", "p1", "u3", 1, 0.47, False, ""),
        ("e4", "p1", "u4", 2, 0.1, False, ""),
        ("e5", "p1", "u5", 3, 0.1, False, ""),
        # the ring also engages p2; p3 is a clean post of the campaign
        ("e6", "p2", "u1", 0, 0.9, True, "lockstep"),
        ("e7", "p2", "u2", 0, 0.9, True, "lockstep"),
        ("e8", "p3", "u9", 0, 0.0, False, ""),
        ("e9", "p3", "u8", 1, 0.0, False, ""),
    ]
    frame = pd.DataFrame(
        rows, columns=["event_id", "post_id", "user_id", "hour", "risk", "invalid", "reason"]
    )
    frame["ts"] = ts + pd.to_timedelta(frame.pop("hour"), unit="h")
    frame["campaign_id"] = "c1"
    frame["action"] = "like"
    frame["evidence"] = np.where(frame["invalid"], "lockstep: 2 accounts on 2 posts within 60 s", "")
    return frame


def test_flagged_accounts_and_clean_share_split_the_review_band() -> None:
    mine = _verdicts().query("post_id == 'p1'")
    doubted = flagged_accounts(mine, review_risk=0.46)
    assert doubted["account_id"].tolist() == ["u1", "u2", "u3"]
    assert doubted["is_invalid"].tolist() == [True, True, False]
    assert clean_share(mine, np.full(len(mine), 0.5), review_risk=0.46) == 1.0  # u4 and u5 only


def test_timeline_scales_the_clean_posts_shape_to_the_post() -> None:
    verdicts = _verdicts()
    bins = timeline(verdicts.query("post_id == 'p1'"), verdicts)
    assert bins["engagements"].tolist() == [2, 1, 1, 1]
    assert bins["flagged"].tolist() == [2, 0, 0, 0]
    # p3 (the only clean post) has half its engagements in hour 0 and half in hour 1
    assert bins["baseline"].tolist() == [2.5, 2.5, 0.0, 0.0]
    svg = timeline_svg(bins, title='post "p1" <timeline>')
    # one bar per bin plus the legend's swatch; the post's own scale: its peak (2), not the baseline's
    assert svg.count('class="bar-organic"') == 4 + 1 and svg.count('class="bar-flagged"') == 1 + 1
    assert "one bar = 1 h" in svg and ">baseline</text>" in svg and 'text-anchor="end">2</text>' in svg
    assert "&lt;timeline&gt;" in svg and "<timeline>" not in svg


def test_group_graph_links_the_doubted_accounts_to_their_other_posts() -> None:
    graph = group_graph(_verdicts(), "p1", review_risk=0.46)
    assert set(graph.posts["post_id"]) == {"p1", "p2"}
    assert graph.posts.set_index("post_id")["is_case"].to_dict() == {"p1": True, "p2": False}
    assert len(graph.edges) == 5  # u1, u2, u3 on p1; u1, u2 on p2
    svg = graph_svg(graph, title="group")
    # two invalid accounts and one in the review band, plus one swatch of each in the legend
    assert svg.count('class="node-account invalid"') == 2 + 1 and svg.count('class="node-account"') == 1 + 1
    assert ">u1</text>" in svg and ">p2</text>" in svg and "review band</text>" in svg  # labelled
    linked = graph_svg(graph, title="group", links={"a:u1": "/review/cases/c1", "p:p2": "/review/cases/c2"})
    assert linked.count('<a href="/review/cases/c1"') == 1 and linked.count('<a href="/review/cases/c2"') == 1
    assert len(re.findall(r'class="edge"', svg)) == 5
    assert graph_svg(graph, title="group") == svg  # deterministic layout


def test_shared_infrastructure_and_ages() -> None:
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "post_id": ["p1", "p1", "p1", "p2"],
            "user_id": ["u1", "u2", "u3", "u7"],
            "device_id": ["d1", "d1", "d2", "d1"],
            "ip": ["i1", "i2", "i3", "i1"],
            "ts": pd.to_datetime(["2025-03-02"] * 4, utc=True),
            "user_created_at": pd.to_datetime(
                pd.Series(["2025-03-01", "2024-01-01", None, "2025-03-01"]), utc=True
            ),
        }
    )
    post = events.query("post_id == 'p1'")
    devices = shared_infrastructure(post, events, "device_id")
    assert devices.to_dict(orient="records") == [{"value": "d1", "post_accounts": 2, "period_accounts": 3}]
    assert shared_infrastructure(post, events, "ip").empty
    ages = account_ages(post, {"u1"}).set_index("bucket")
    assert ages.loc["under 7 days", "doubted"] == 1
    assert ages.loc["over a year", "others"] == 1
    assert ages.loc["unknown", "others"] == 1
