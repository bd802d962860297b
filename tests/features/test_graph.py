"""Tests for features.graph: creators' accounts, creator edges, shared engagers, the creator graph."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from features.graph import (
    account_owner,
    creator_accounts,
    creator_engagement_edges,
    creator_graph,
    graph_index,
    reciprocal_edges,
    triangle_communities,
)
from features.shared_engagers import account_creator_pairs, shared_engager_edges

T0 = pd.Timestamp("2026-03-02", tz="UTC")
KEYS = {"max_device_accounts": 8, "max_ip_accounts": 8}  # the ring detector's defaults


def _events(
    rows: list[tuple[str, str, str]],
    *,
    device: Sequence[str | None] | None = None,
    ip: Sequence[str | None] | None = None,
    platform: list[str] | None = None,
) -> pd.DataFrame:
    """Events from (user_id, post_id, creator_id) rows, with optional device and ip columns."""
    users, posts, creators = zip(*rows, strict=True) if rows else ((), (), ())
    frame = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "platform": platform or ["douyin"] * len(rows),
            "campaign_id": "cmp1",
            "post_id": list(posts),
            "creator_id": list(creators),
            "user_id": list(users),
            "action": "like",
            "ts": [T0 + pd.Timedelta(minutes=i) for i in range(len(rows))],
        }
    )
    if device is not None:
        frame["device_id"] = pd.array(device, dtype="string")
    if ip is not None:
        frame["ip"] = pd.array(ip, dtype="string")
    return frame


def _two_creators_and_an_alt() -> pd.DataFrame:
    """kA and kB engage each other; alt shares kA's phone; fan1 engages both."""
    rows = [
        ("kA", "pB1", "kB"),
        ("alt", "pB1", "kB"),
        ("alt", "pA1", "kA"),
        ("kB", "pA1", "kA"),
        ("fan1", "pA1", "kA"),
        ("fan1", "pB1", "kB"),
        ("kB", "pA2", "kA"),
    ]
    device = ["dA", "dA", "dA", "dB", "dF", "dF", "dB"]
    ip = ["ipA", "ipA", "ipA", "ipB", "ipF", "ipF", "ipB"]
    return _events(rows, device=device, ip=ip)


def test_graph_index_codes_creators_by_sorted_id_and_adds_idle_creator_accounts():
    events = _events([("u1", "p1", "kZ"), ("kZ", "p2", "kA"), ("u2", "p2", "kA")])
    index = graph_index(events)
    assert list(index.creator_ids) == ["kA", "kZ"]
    assert index.account_ids[index.creator_account[1]] == "kZ"
    assert index.account_ids[index.creator_account[0]] == "kA"  # never engaged, still an account
    assert index.n_accounts == 4


def test_graph_index_skips_rows_with_missing_ids():
    events = _events([("u1", "p1", "kA"), ("u2", "p1", "kA")])
    events.loc[1, "user_id"] = None
    index = graph_index(events)
    assert list(index.rows) == [0]


def test_creator_accounts_has_a_self_row_for_every_creator():
    accounts = creator_accounts(_events([("u1", "p1", "kA"), ("u2", "p2", "kB")]), **KEYS)
    assert accounts.to_dict("records") == [
        {"creator_id": "kA", "account_id": "kA", "link": "self"},
        {"creator_id": "kB", "account_id": "kB", "link": "self"},
    ]


def test_creator_accounts_links_an_alt_sharing_the_creators_device():
    accounts = creator_accounts(_two_creators_and_an_alt(), **KEYS)
    alt = accounts[accounts["account_id"] == "alt"]
    assert alt[["creator_id", "link"]].values.tolist() == [["kA", "device"]]
    assert "fan1" not in set(accounts["account_id"])


def test_creator_accounts_links_through_ip_when_devices_differ():
    events = _events(
        [("kA", "pB1", "kB"), ("alt", "pB1", "kB"), ("u1", "pA1", "kA")],
        device=["dA", "dX", "dU"],
        ip=["home", "home", "ipU"],
    )
    accounts = creator_accounts(events, **KEYS)
    assert accounts.loc[accounts["account_id"] == "alt", "link"].tolist() == ["ip"]


def test_creator_accounts_ignores_carrier_nat_ip_shared_by_many():
    users = [f"u{i}" for i in range(30)]
    rows = [("kA", "pB1", "kB")] + [(u, "pB1", "kB") for u in users] + [("u0", "pA1", "kA")]
    events = _events(rows, device=[f"d{i}" for i in range(len(rows))], ip=["nat"] * len(rows))
    accounts = creator_accounts(events, max_device_accounts=8, max_ip_accounts=8)
    assert set(accounts["link"]) == {"self"}


def test_creator_accounts_never_associates_one_creator_with_another():
    events = _events(
        [("kA", "pB1", "kB"), ("kB", "pA1", "kA"), ("alt", "pA1", "kA")],
        device=["studio-phone"] * 3,
        ip=[None] * 3,
    )
    accounts = creator_accounts(events, **KEYS)
    assert accounts[accounts["account_id"].isin(["kA", "kB"])]["link"].tolist() == ["self", "self"]
    assert accounts.loc[accounts["account_id"] == "alt", "creator_id"].tolist() == [
        "kA"
    ]  # one owner, smaller id


@pytest.mark.parametrize("columns", ["absent", "all_null"])
def test_creator_accounts_without_device_and_ip_has_only_self_rows(columns: str):
    events = _two_creators_and_an_alt()
    if columns == "absent":
        events = events.drop(columns=["device_id", "ip"])
    else:
        events["device_id"] = pd.array([None] * len(events), dtype="string")
        events["ip"] = pd.array([None] * len(events), dtype="string")
    accounts = creator_accounts(events, **KEYS)
    assert accounts["account_id"].tolist() == ["kA", "kB"]


def test_creator_engagement_edges_counts_accounts_posts_and_chance():
    edges = _edges(_two_creators_and_an_alt()).set_index(["source", "target"])
    a_to_b = edges.loc[("kA", "kB")]
    assert (a_to_b["n_events"], a_to_b["n_posts"], a_to_b["n_accounts"]) == (2, 1, 2)  # kA and its alt
    assert a_to_b["target_posts"] == 1 and a_to_b["coverage"] == 1.0
    b_to_a = edges.loc[("kB", "kA")]
    assert (b_to_a["n_events"], b_to_a["n_posts"], b_to_a["coverage"]) == (2, 2, 1.0)
    # out(kA's accounts) = 3 events (alt's own-post like included), in(kB) = 3, platform = 7
    assert a_to_b["expected_events"] == pytest.approx(3 * 3 / 7)
    assert len(edges) == 2  # the alt's like on kA's own post is no creator -> creator edge


def test_reciprocal_edges_keeps_pairs_that_engaged_both_ways():
    events = _events([("kA", "pB", "kB"), ("kB", "pA", "kA"), ("kA", "pC", "kC")])
    pairs = reciprocal_edges(_edges(events))
    assert pairs[["creator_a", "creator_b", "events_ab", "events_ba"]].values.tolist() == [["kA", "kB", 1, 1]]
    assert pairs["weight"].tolist() == [1.0]


def test_shared_engager_edges_weighted_jaccard_by_hand():
    # u1 engages 2 posts of kA and 1 of kB, u2 one of each, u3 only kA
    rows = [
        ("u1", "a1", "kA"),
        ("u1", "a2", "kA"),
        ("u1", "b1", "kB"),
        ("u2", "a1", "kA"),
        ("u2", "b1", "kB"),
        ("u3", "a1", "kA"),
    ]
    edges = shared_engager_edges(_events(rows), min_shared=1, max_creators_per_account=40)
    row = edges.iloc[0]
    assert (row["creator_a"], row["creator_b"], row["n_shared"], row["shared_posts"]) == ("kA", "kB", 2, 2)
    # union: kA has 2 + 1 + 1 = 4 engaged posts, kB 2; shared min = 2 -> 2 / (4 + 2 - 2)
    assert row["weighted_jaccard"] == pytest.approx(0.5)
    # config model: k_A = 3, k_B = 2, sum d = 5, sum d(d-1) = 4
    assert row["expected_shared"] == pytest.approx(3 * 2 * 4 / 25)


def test_shared_engager_edges_leaves_heavy_accounts_out_of_intersections():
    heavy = [("heavy", f"p{c}", f"k{c}") for c in range(10)]
    edges = shared_engager_edges(_events(heavy), min_shared=1, max_creators_per_account=5)
    assert edges.empty
    edges = shared_engager_edges(_events(heavy), min_shared=1, max_creators_per_account=10)
    assert len(edges) == 45


def test_shared_engager_edges_random_fans_of_popular_creators_overlap_as_chance_predicts():
    rng = np.random.default_rng(0)
    popularity = np.r_[np.full(5, 20.0), np.ones(45)]
    rows = []
    for u in range(3_000):
        for c in rng.choice(50, size=1 + rng.poisson(1.5), replace=True, p=popularity / popularity.sum()):
            rows.append((f"u{u}", f"p{c}", f"k{c:02d}"))
    edges = shared_engager_edges(_events(rows), min_shared=3, max_creators_per_account=40)
    popular = edges[
        edges["creator_a"].isin(["k00", "k01", "k02", "k03", "k04"])
        & edges["creator_b"].isin(["k00", "k01", "k02", "k03", "k04"])
    ]
    assert len(popular) == 10 and popular["n_shared"].min() > 50  # many fans in common ...
    assert popular["lift"].between(0.7, 1.3).all()  # ... exactly as many as chance predicts


def test_shared_engager_edges_keeps_platforms_apart():
    rows = [("u1", "a", "kA"), ("u1", "b", "kB"), ("u2", "a", "kA"), ("u2", "b", "kB")]
    edges = shared_engager_edges(
        _events(rows, platform=["douyin", "kuaishou"] * 2), min_shared=1, max_creators_per_account=40
    )
    assert edges.empty


def test_account_creator_pairs_counts_posts_and_degree_per_platform():
    rows = [
        ("u1", "a1", "kA"),
        ("u1", "a2", "kA"),
        ("u1", "a1", "kA"),
        ("u1", "b1", "kB"),
        ("u1", "c1", "kC"),
    ]
    events = _events(rows, platform=["douyin"] * 4 + ["kuaishou"])
    index = graph_index(events)
    pairs = account_creator_pairs(index)
    u1 = pairs[pairs["account"] == list(index.account_ids).index("u1")]
    assert index.creator_ids[u1["creator"]].tolist() == ["kA", "kB", "kC"]
    assert u1["n_posts"].tolist() == [2, 1, 1]
    assert u1["degree"].tolist() == [2, 2, 1]


def test_creator_graph_carries_edge_attributes_in_sorted_order():
    pairs = reciprocal_edges(
        _edges(_events([("kA", "pB", "kB"), ("kB", "pA", "kA"), ("kC", "pB", "kB"), ("kB", "pC", "kC")]))
    )
    graph = creator_graph(pairs)
    assert isinstance(graph, nx.Graph)
    assert list(graph.nodes) == ["kA", "kB", "kC"]
    assert graph.edges["kA", "kB"]["events_ab"] == 1 and graph.edges["kB", "kC"]["weight"] == 1.0
    assert creator_graph(pairs.iloc[:0]).number_of_nodes() == 0


def test_graph_features_on_empty_input():
    events = _events([])
    assert creator_accounts(events, **KEYS).empty
    assert _edges(events).empty
    assert shared_engager_edges(events, min_shared=3, max_creators_per_account=40).empty
    assert reciprocal_edges(_edges(events)).empty


def test_graph_features_do_not_mutate_input():
    events = _two_creators_and_an_alt()
    before = events.copy(deep=True)
    creator_accounts(events, **KEYS)
    _edges(events)
    shared_engager_edges(events, min_shared=1, max_creators_per_account=40)
    pd.testing.assert_frame_equal(events, before)


@pytest.mark.parametrize(("n", "p", "seed"), [(40, 0.1, 0), (80, 0.06, 1), (30, 0.2, 2), (60, 0.04, 3)])
def test_triangle_communities_equal_networkx_clique_percolation(n: int, p: float, seed: int):
    graph = nx.gnp_random_graph(n, p, seed=seed)
    edges = np.array(graph.edges, dtype=np.int64).reshape(-1, 2)
    ours = sorted(tuple(c.tolist()) for c in triangle_communities(edges[:, 0], edges[:, 1]))
    theirs = sorted(tuple(sorted(c)) for c in nx.community.k_clique_communities(graph, 3))
    assert ours == theirs


def test_triangle_communities_keeps_rings_joined_by_a_stray_edge_apart():
    ring_a = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    ring_b = [(i, j) for i in range(5, 10) for j in range(i + 1, 10)]
    edges = np.array([*ring_a, *ring_b, (4, 5), (20, 21)], dtype=np.int64)  # stray edge, a lone pair
    found = triangle_communities(edges[:, 0], edges[:, 1])
    assert [c.tolist() for c in found] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert triangle_communities(np.zeros(0, np.int64), np.zeros(0, np.int64)) == []


def test_triangle_communities_stay_fast_on_a_dense_component():
    graph = nx.gnp_random_graph(200, 0.3, seed=4)  # networkx takes tens of seconds here
    edges = np.array(graph.edges, dtype=np.int64)
    found = triangle_communities(edges[:, 0], edges[:, 1])
    assert len(found) == 1 and len(found[0]) == 200


def _edges(events: pd.DataFrame) -> pd.DataFrame:
    """creator_engagement_edges with the owners the ring detector would find."""
    return creator_engagement_edges(events, owner=account_owner(events, **KEYS)[0])
