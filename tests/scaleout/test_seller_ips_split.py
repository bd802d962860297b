"""Seller IPs across shards: an address's accounts and an account's posts counted over the window."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.seller_ips import SellerIpEvidence, ip_part, spread_through_ips
from detectors.spread import SpreadParams, spread_part, spread_rows, spread_to_accounts
from tests.scaleout.engines import two_creator_window

STRUCTURE = frozenset({"pool", "ip_farm"})


def _window() -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """One platform whose creators kA (posts a*) and kB (posts b*) land in two shards, and the
    (account, post) pairs a structural detector caught.

    x: six workers caught on a1 (shard A) with a thin account beside them, and eight honest accounts
    of shard B: 6 of 15 caught, no seller's address, though shard A alone sees 6 of 7.
    y: six workers caught on b1 (shard B), three of them caught on a2 too (shard A), beside a thin
    account on a2 and an account with a record of its own (one post in A, twelve in B): a seller's
    address (6 of 8), which shard A alone (3 of 5) does not see, and the second account is not thin.
    """
    rows = [(f"w{i}", "a1", "x") for i in range(6)] + [("t1", "a1", "x")]
    rows += [(f"d{i}", f"b{2 + i}", "x") for i in range(8)]
    rows += [(f"v{i}", "b1", "y") for i in range(6)] + [(f"v{i}", "a2", "y") for i in range(3)]
    rows += [("r1", "a2", "y"), ("g", "a2", "y")] + [("g", f"b{20 + i}", "home") for i in range(12)]
    window = two_creator_window(rows)
    caught = {(f"w{i}", "a1") for i in range(6)} | {(f"v{i}", "b1") for i in range(6)}
    return window, caught | {(f"v{i}", "a2") for i in range(3)}


def _detections(window: pd.DataFrame, caught: set[tuple[str, str]]) -> list[Detection]:
    pairs = zip(window["user_id"].astype(str), window["post_id"].astype(str), strict=True)
    hit = np.array([pair in caught for pair in pairs])
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [12], "n_posts": [2], "evidence": ["pool"]})
    pool = Detection("pool", np.where(hit, 0.9, 0.0), np.where(hit, 0, -1).astype(np.int64), groups)
    return [Detection.empty("ip_farm", len(window)), pool]


def _evidence(parts: pd.DataFrame) -> SellerIpEvidence:
    """The shards' parts added up as Spark adds them (``scaleout.job``)."""
    through = parts[parts["ip"].notna()].fillna({"farm": 0})
    per_account = through.groupby(["platform", "ip", "user_id"], as_index=False).agg(
        caught=("caught", "max"), strongest=("strongest", "max"), farm=("farm", "max")
    )
    posts = (
        parts[parts["ip"].isna()].groupby(["platform", "user_id"], as_index=False).agg(posts=("posts", "sum"))
    )
    # a farm's fresh accounts: at most ``ip_farm_max_posts`` posts over the window
    counted = per_account.merge(posts, on=["platform", "user_id"], how="left")
    per_account["fresh"] = (counted["posts"] <= SpreadParams().ip_farm_max_posts).astype(int).to_numpy()
    ips = per_account.groupby(["platform", "ip"], as_index=False).agg(
        caught=("caught", "sum"),
        accounts=("user_id", "size"),
        strongest=("strongest", "max"),
        farm=("farm", "sum"),
        fresh=("fresh", "sum"),
    )
    return SellerIpEvidence(ips=ips, posts=posts)


def test_shards_raise_through_seller_ips_with_the_window_counts_as_the_whole_window_does() -> None:
    window, caught = _window()
    params = SpreadParams()
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=params)
    raised = set(window.loc[whole[0].event_score > 0, "user_id"].astype(str))
    # y is a seller's (its workers' own engagements are raised too), x is not; g has a record of its own
    assert raised == {"r1"} | {f"v{i}" for i in range(6)}
    in_a = window["creator_id"].eq("kA").to_numpy()
    shards = [(keep, window[keep].reset_index(drop=True)) for keep in (in_a, ~in_a)]
    parts = pd.concat(
        [ip_part(_detections(s, caught), s, structural=STRUCTURE, params=params) for _, s in shards]
    )
    evidence = _evidence(parts)
    changed_alone = 0
    for keep, shard in shards:
        found = _detections(shard, caught)
        joined = spread_through_ips(found, shard, structural=STRUCTURE, params=params, window=evidence)
        alone = spread_through_ips(found, shard, structural=STRUCTURE, params=params)
        np.testing.assert_array_equal(joined[0].event_score, whole[0].event_score[keep])
        changed_alone += int((alone[0].event_score != whole[0].event_score[keep]).sum())
    # alone, shard A raises t1 (x: 6 of 7 caught) but not r1 nor the workers on a2 (y: 3 of 5)
    assert changed_alone >= 2


def test_the_window_counts_of_a_record_of_its_own_keep_an_account_thin_or_not() -> None:
    window, caught = _window()
    params = SpreadParams()
    in_a = window["creator_id"].eq("kA").to_numpy()
    shard = window[in_a].reset_index(drop=True)
    parts = ip_part(_detections(window, caught), window, structural=STRUCTURE, params=params)
    evidence = _evidence(parts)
    assert evidence.posts.set_index("user_id").loc["g", "posts"] == 13
    without_posts = SellerIpEvidence(ips=evidence.ips, posts=evidence.posts.iloc[:0])
    found = _detections(shard, caught)
    thin = spread_through_ips(found, shard, structural=STRUCTURE, params=params, window=without_posts)
    joined = spread_through_ips(found, shard, structural=STRUCTURE, params=params, window=evidence)
    is_g = shard["user_id"].eq("g").to_numpy()
    assert thin[0].event_score[is_g].max() > 0 and joined[0].event_score[is_g].max() == 0


def test_an_account_caught_by_spreading_from_another_shard_counts_as_caught_on_its_address() -> None:
    """Address z: ten accounts on a1 (shard A), five caught over the window: s0 and s1 on a1 itself,
    s2-s4 only by spreading (their one other engagement, on b1 in shard B, was caught). The whole
    window sees a seller's address (5 of 10) and raises the thin h0-h4; a shard's first pass, which
    spreads with its own evidence, counts 2 of 10, and the accounts the window's spreading evidence
    makes caught (``spread_rows``, as ``scaleout.window_parts.caught_by_spreading`` adds them) restore it."""
    rows = [(f"s{i}", "a1", "z") for i in range(5)] + [(f"h{i}", "a1", "z") for i in range(5)]
    rows += [(f"s{i}", "b1", "q") for i in range(2, 5)] + [(f"o{i}", "b1", "q") for i in range(5)]
    users, posts, ips = zip(*rows, strict=True)
    window = pd.DataFrame({"platform": "douyin", "user_id": users, "post_id": posts, "ip": ips}).astype(
        "category"
    )
    window["creator_id"] = pd.Categorical(["kA" if p.startswith("a") else "kB" for p in posts])
    caught = {("s0", "a1"), ("s1", "a1")} | {(f"s{i}", "b1") for i in range(2, 5)}
    params = SpreadParams()

    def scored(frame: pd.DataFrame, spread: pd.DataFrame | None) -> list[Detection]:
        ip_farm, pool = _detections(frame, caught)
        return [ip_farm, spread_to_accounts(pool, frame, params=params, window=spread)]

    whole = spread_through_ips(scored(window, None), window, structural=STRUCTURE, params=params)
    assert {f"h{i}" for i in range(5)} <= set(window.loc[whole[0].event_score > 0, "user_id"].astype(str))
    in_a = window["creator_id"].eq("kA").to_numpy()
    shards = [(keep, window[keep].reset_index(drop=True)) for keep in (in_a, ~in_a)]
    spread = pd.concat([spread_part(_detections(s, caught)[1], s, params=params) for _, s in shards])
    spread = spread.groupby(["detector", "user_id"], as_index=False).agg(
        caught=("caught", "sum"), total=("total", "sum"), strongest=("strongest", "max")
    )
    # the first pass: each shard spreads with its own evidence before it counts its addresses
    parts = pd.concat([ip_part(scored(s, None), s, structural=STRUCTURE, params=params) for _, s in shards])
    by_spreading = spread_rows(spread, params=params, names=STRUCTURE)
    by_spreading = by_spreading[by_spreading["spread"] >= params.min_caught_score]
    is_spread = parts["user_id"].isin(by_spreading["user_id"]) & parts["ip"].notna()
    added = parts.assign(caught=parts["caught"].where(~is_spread, 1))
    joined_a, alone_a = (
        spread_through_ips(
            scored(shards[0][1], spread),
            shards[0][1],
            structural=STRUCTURE,
            params=params,
            window=_evidence(p),
        )[0].event_score
        for p in (added, parts)
    )
    np.testing.assert_array_equal(joined_a, whole[0].event_score[in_a])
    assert (alone_a != whole[0].event_score[in_a]).sum() >= 5


def _second_round_window(honest_on_n: int) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """One platform split by creator (kA's posts a*, kB's b*), for the rule's second round.

    Address S: six workers caught on a1 and six thin accounts t0-t5 beside them (6 of 12: a seller's),
    so round one raises t0-t5. They also engage a2 through N, which carries nothing else in shard A; in
    round two they count as caught there. ``honest_on_n`` honest accounts of shard B use N too. g, an
    honest account on a9 and b9, spans the shards (the platform is split).
    """
    rows = [(f"w{i}", "a1", "S") for i in range(6)] + [(f"t{i}", "a1", "S") for i in range(6)]
    rows += [(f"t{i}", "a2", "N") for i in range(6)] + [(f"h{i}", f"b{i}", "N") for i in range(honest_on_n)]
    rows += [("g", "a9", "home"), ("g", "b9", "home")]
    users, posts, ips = zip(*rows, strict=True)
    window = pd.DataFrame({"platform": "douyin", "user_id": users, "post_id": posts, "ip": ips}).astype(
        "category"
    )
    window["creator_id"] = pd.Categorical(["kA" if p.startswith("a") else "kB" for p in posts])
    return window, {(f"w{i}", "a1") for i in range(6)}


def _spanning_evidence(parts: pd.DataFrame) -> SellerIpEvidence:
    """The shards' parts added up as ``scaleout.window_parts.window_seller_ips`` does: only the addresses
    and accounts in more than one shard (``shard``), every such address, caught or not."""
    through = parts[parts["ip"].notna()]
    in_several = through.groupby(["platform", "ip"])["shard"].transform("nunique") > 1
    own = parts[parts["ip"].isna()]
    several = own[own.groupby(["platform", "user_id"])["shard"].transform("nunique") > 1]
    return _evidence(pd.concat([through[in_several], several]))


def test_a_split_shard_runs_the_second_round_on_its_own_addresses_and_accounts() -> None:
    """N is in shard A alone: the whole window's second round makes it a seller's (6 of 6 caught) and
    raises t0-t5 on a2; a split platform's shard ran one round, and now runs the second on the accounts
    whose engagements are all in it, as the window does."""
    window, caught = _second_round_window(honest_on_n=0)
    params = SpreadParams()
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=params)
    on_a2 = window["post_id"].eq("a2").to_numpy()
    assert (whole[0].event_score[on_a2] > 0).all()
    one_round = SpreadParams(ip_rounds=1)
    assert (
        spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=one_round)[0]
        .event_score[on_a2]
        .max()
        == 0
    )
    shards, evidence = _creator_kA_split(window, caught, params)
    assert list(evidence.posts["user_id"]) == ["g"]  # the platform is split: g is in both shards
    for _, keep, shard in shards:
        joined = spread_through_ips(
            _detections(shard, caught), shard, structural=STRUCTURE, params=params, window=evidence
        )
        np.testing.assert_array_equal(joined[0].event_score, whole[0].event_score[keep])


def test_a_shard_of_a_platform_split_between_worlds_runs_the_second_round_too() -> None:
    """Without g nothing spans the two shards (worlds that share no account nor address), so Spark joins
    no evidence of the platform; the plan still says it is split (``SellerIpEvidence.split``). Every
    account of the shard is whole in it, and the second round raises t0-t5 on a2 as the window does
    (taken for split with no account listed, the shard ran one round)."""
    window, caught = _second_round_window(honest_on_n=0)
    window = window[window["user_id"].astype(str) != "g"].reset_index(drop=True)
    params = SpreadParams()
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=params)
    shards, evidence = _creator_kA_split(window, caught, params)
    assert not len(evidence.ips) and not len(evidence.posts)
    told = SellerIpEvidence(ips=evidence.ips, posts=evidence.posts, split=frozenset({"douyin"}))
    _, in_a, shard_a = shards[0]
    joined = spread_through_ips(
        _detections(shard_a, caught), shard_a, structural=STRUCTURE, params=params, window=told
    )
    on_a2 = shard_a["post_id"].eq("a2").to_numpy()
    assert (joined[0].event_score[on_a2] > 0).all()
    np.testing.assert_array_equal(joined[0].event_score, whole[0].event_score[in_a])


def test_an_address_in_several_shards_keeps_the_windows_count_in_the_second_round() -> None:
    """N also carries ten honest accounts of shard B: over the window t0-t5 make it 6 of 16 (no seller's);
    shard A sees 6 of 6. Every address in several shards is joined with the window's counts, caught or
    not, so the shard does not take N for a seller's."""
    window, caught = _second_round_window(honest_on_n=10)
    params = SpreadParams()
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=params)
    on_a2 = window["post_id"].eq("a2").to_numpy()
    assert whole[0].event_score[on_a2].max() == 0
    shards, evidence = _creator_kA_split(window, caught, params)
    in_a = shards[0][1]
    assert evidence.ips.set_index("ip").loc["N", "caught"] == 0
    shard_a = shards[0][2]
    joined = spread_through_ips(
        _detections(shard_a, caught), shard_a, structural=STRUCTURE, params=params, window=evidence
    )
    np.testing.assert_array_equal(joined[0].event_score, whole[0].event_score[in_a])
    caught_only = SellerIpEvidence(ips=evidence.ips[evidence.ips["caught"] > 0], posts=evidence.posts)
    listed_caught = spread_through_ips(
        _detections(shard_a, caught), shard_a, structural=STRUCTURE, params=params, window=caught_only
    )
    assert listed_caught[0].event_score[on_a2[in_a]].max() > 0  # 6 of 6 in the shard: taken for a seller's


def _creator_kA_split(
    window: pd.DataFrame, caught: set[tuple[str, str]], params: SpreadParams
) -> tuple[list[tuple[str, npt.NDArray[np.bool_], pd.DataFrame]], SellerIpEvidence]:
    """The window in two shards, creator kA's posts and the rest, and the evidence joined over them."""
    in_a = window["creator_id"].eq("kA").to_numpy()
    shards = [
        ("A", in_a, window[in_a].reset_index(drop=True)),
        ("B", ~in_a, window[~in_a].reset_index(drop=True)),
    ]
    parts = pd.concat(
        [
            ip_part(_detections(s, caught), s, structural=STRUCTURE, params=params).assign(shard=name)
            for name, _, s in shards
        ]
    )
    return shards, _spanning_evidence(parts)
