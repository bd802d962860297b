"""Tests of the campaign simulator: contract shape, truth, honest oddities, schemes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import EVENT_REQUIRED
from training.simulator import SimConfig, SimulatedSet, simulate, write_simulated_set

EVENT_COLUMNS = [
    "event_id", "platform", "campaign_id", "post_id", "creator_id", "user_id", "action", "ts",
    "device_id", "ip", "user_created_at", "user_followers", "comment_text",
]  # fmt: skip
STRING_COLUMNS = [c for c in EVENT_COLUMNS if c not in ("ts", "user_created_at", "user_followers")]
SCHEME_SWITCHES = {
    "bot_lockstep": "bot_lockstep",
    "bot_camouflage": "bot_camouflage",
    "click_farm": "click_farm",
    "ring": "ring",
    "drip_feed": "drip_feed",
    "aged_accounts": "aged_accounts",
    "replay": "replay",
}
SMALL = SimConfig(seed=3, scale=0.2)


@pytest.fixture(scope="module")
def sim() -> SimulatedSet:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def labelled(sim: SimulatedSet) -> pd.DataFrame:
    """Distinct events joined with their truth and their post's publication time."""
    events = sim.events.drop_duplicates("event_id")
    published = sim.posts.set_index("post_id")["published_at"]
    out = events.merge(sim.truth_events, on="event_id", validate="1:1")
    return out.assign(published_at=out["post_id"].map(published))


def test_simulate_events_follow_the_contract(sim: SimulatedSet) -> None:
    events = sim.events
    assert list(events.columns) == EVENT_COLUMNS
    for column in STRING_COLUMNS:
        assert pd.api.types.is_string_dtype(events[column]), column
    assert str(events["ts"].dtype) == "datetime64[us, UTC]"
    assert str(events["user_created_at"].dtype) == "datetime64[us, UTC]"
    assert str(events["user_followers"].dtype) == "Int64"
    assert set(events["action"]) == {
        "like",
        "favorite",
        "comment",
        "share",
        "view",
        "follow",
    }
    assert set(events["platform"]) <= {"douyin", "kuaishou", "xiaohongshu", "channels"}
    for column in EVENT_REQUIRED:
        assert events[column].notna().all(), column


def test_simulate_optional_values_are_sometimes_null(sim: SimulatedSet) -> None:
    null_share = sim.events[["device_id", "ip", "user_created_at"]].isna().mean()
    assert ((null_share > 0.005) & (null_share < 0.05)).all()


def test_simulate_comment_text_only_on_comments(sim: SimulatedSet) -> None:
    events = sim.events
    is_comment = events["action"] == "comment"
    assert events.loc[is_comment, "comment_text"].notna().all()
    assert events.loc[~is_comment, "comment_text"].isna().all()


def test_simulate_side_frames_have_their_columns(sim: SimulatedSet) -> None:
    assert list(sim.posts.columns) == [
        "post_id", "creator_id", "campaign_id", "platform", "published_at", "views", "studio_id",
    ]  # fmt: skip
    assert list(sim.campaigns.columns) == [
        "campaign_id", "currency", "price_like", "price_favorite", "price_comment", "price_share",
        "window_start", "window_end",
    ]  # fmt: skip
    assert list(sim.truth_events.columns) == ["event_id", "invalid", "scheme", "copies"]
    assert list(sim.truth_creators.columns) == [
        "campaign_id",
        "creator_id",
        "bought",
        "scheme",
    ]
    assert sim.posts["post_id"].is_unique
    assert str(sim.posts["published_at"].dtype) == "datetime64[us, UTC]"
    assert set(sim.campaigns["campaign_id"]) == set(sim.events["campaign_id"])
    assert (sim.campaigns["window_end"] - sim.campaigns["window_start"] == pd.Timedelta(days=14)).all()
    assert set(sim.posts["platform"]) == {
        "douyin",
        "kuaishou",
        "xiaohongshu",
        "channels",
    }


def test_simulate_is_deterministic_per_seed() -> None:
    first, second = simulate(SMALL), simulate(SMALL)
    pd.testing.assert_frame_equal(first.events, second.events)
    pd.testing.assert_frame_equal(first.truth_events, second.truth_events)
    pd.testing.assert_frame_equal(first.truth_creators, second.truth_creators)
    pd.testing.assert_frame_equal(first.posts, second.posts)


def test_simulate_differs_across_seeds(sim: SimulatedSet) -> None:
    other = simulate(replace(SMALL, seed=SMALL.seed + 1))
    assert not set(other.events["event_id"]) & set(sim.events["event_id"])
    assert len(other.events) != len(sim.events)


def test_simulate_scale_is_about_linear() -> None:
    n_small = len(simulate(SimConfig(seed=1, scale=0.5)).events)
    n_large = len(simulate(SimConfig(seed=1, scale=1.0)).events)
    assert 70_000 < n_large < 130_000
    assert 1.5 < n_large / n_small < 2.5


@pytest.mark.parametrize("switch", sorted(SCHEME_SWITCHES))
def test_simulate_switch_removes_its_scheme(sim: SimulatedSet, switch: str) -> None:
    scheme = SCHEME_SWITCHES[switch]
    assert (sim.truth_events["scheme"] == scheme).sum() > 0
    without = simulate(replace(SMALL, **{switch: False}))
    assert (without.truth_events["scheme"] == scheme).sum() == 0
    assert (without.truth_creators["scheme"] == scheme).sum() == 0
    other_schemes = set(sim.truth_events["scheme"]) - {scheme}
    assert set(without.truth_events["scheme"]) == other_schemes
    if switch == "replay":
        assert (without.truth_events["copies"] == 1).all()


def test_simulate_scheme_switch_keeps_honest_traffic() -> None:
    base = replace(SMALL, replay=False)
    with_drip, without_drip = simulate(base), simulate(replace(base, drip_feed=False))

    def organic(s: SimulatedSet) -> pd.DataFrame:
        ids = s.truth_events.loc[s.truth_events["scheme"] == "organic", "event_id"]
        return s.events[s.events["event_id"].isin(ids)].reset_index(drop=True)

    pd.testing.assert_frame_equal(organic(with_drip), organic(without_drip))


def test_simulate_honest_only_config_has_no_invalid_events() -> None:
    honest = simulate(
        replace(SMALL, bot_lockstep=False, bot_camouflage=False, click_farm=False, ring=False,
                drip_feed=False, aged_accounts=False, replay=False)
    )  # fmt: skip
    assert not honest.truth_events["invalid"].any()
    assert not honest.truth_creators["bought"].any()
    assert (honest.truth_creators["scheme"] == "").all()


def test_truth_events_one_row_per_distinct_event_id(sim: SimulatedSet) -> None:
    truth = sim.truth_events
    assert truth["event_id"].is_unique
    assert set(truth["event_id"]) == set(sim.events["event_id"])
    counts = sim.events["event_id"].value_counts()
    assert (truth.set_index("event_id")["copies"] == counts.reindex(truth["event_id"]).to_numpy()).all()
    assert (truth["invalid"] == (truth["scheme"] != "organic")).all()


def test_truth_creators_one_row_per_creator(sim: SimulatedSet) -> None:
    creators = sim.truth_creators
    assert not creators.duplicated(["campaign_id", "creator_id"]).any()
    assert set(creators["creator_id"]) == set(sim.posts["creator_id"])
    assert (creators["bought"] == (creators["scheme"] != "")).all()
    assert set(creators.loc[creators["bought"], "scheme"]) == {
        "bot_lockstep", "click_farm", "ring", "drip_feed", "aged_accounts",
    }  # fmt: skip


def test_truth_buyers_have_invalid_events_of_their_scheme(labelled: pd.DataFrame, sim: SimulatedSet) -> None:
    delivered = set(
        zip(
            labelled.loc[labelled["invalid"], "creator_id"],
            labelled.loc[labelled["invalid"], "scheme"],
            strict=True,
        )
    )
    buyers = sim.truth_creators[sim.truth_creators["bought"]]
    assert all((c, s) in delivered for c, s in zip(buyers["creator_id"], buyers["scheme"], strict=True))


def test_truth_camouflage_creators_are_not_buyers(labelled: pd.DataFrame, sim: SimulatedSet) -> None:
    camouflaged = set(labelled.loc[labelled["scheme"] == "bot_camouflage", "creator_id"])
    assert camouflaged
    creators = sim.truth_creators.set_index("creator_id")
    assert not creators.loc[sorted(camouflaged), "bought"].any()


def test_events_happen_after_publication_and_inside_the_window(
    labelled: pd.DataFrame, sim: SimulatedSet
) -> None:
    window = sim.campaigns.set_index("campaign_id")
    assert (labelled["ts"] >= labelled["published_at"]).all()
    assert (labelled["ts"] < labelled["campaign_id"].map(window["window_end"])).all()


def test_organic_follows_the_china_diurnal_rhythm(labelled: pd.DataFrame) -> None:
    hour = labelled.loc[labelled["scheme"] == "organic", "ts"].dt.tz_convert("Asia/Shanghai").dt.hour
    evening = hour.between(19, 22).mean()
    night = hour.between(2, 6).mean()
    assert evening > 2 * night


def test_organic_engagement_decays_after_publication(labelled: pd.DataFrame) -> None:
    organic = labelled[labelled["scheme"] == "organic"]
    delay_h = (organic["ts"] - organic["published_at"]).dt.total_seconds() / 3600
    assert delay_h.median() < 24
    assert delay_h.quantile(0.99) > 48


def test_organic_reach_is_heavy_tailed(labelled: pd.DataFrame) -> None:
    per_post = labelled[labelled["scheme"] == "organic"].groupby("post_id").size()
    assert per_post.max() > 5 * per_post.median()
    assert per_post.quantile(0.1) < 50


def test_organic_users_engage_many_creators(labelled: pd.DataFrame) -> None:
    organic = labelled[labelled["scheme"] == "organic"]
    assert organic.groupby("user_id")["creator_id"].nunique().max() >= 10
    assert organic["user_id"].str.startswith("c").any()  # creators engage too, as in rings


def test_organic_has_a_few_percent_new_accounts(labelled: pd.DataFrame) -> None:
    organic = labelled[labelled["scheme"] == "organic"].dropna(subset=["user_created_at"])
    age = (organic["ts"] - organic["user_created_at"]).groupby(organic["user_id"]).min()
    young = (age < pd.Timedelta(days=30)).mean()
    assert 0.005 < young < 0.1


def test_honest_households_share_a_device(labelled: pd.DataFrame) -> None:
    organic = labelled[labelled["scheme"] == "organic"].dropna(subset=["device_id"])
    users_per_device = organic.groupby("device_id")["user_id"].nunique()
    assert users_per_device.between(2, 4).sum() >= 10
    assert users_per_device.max() <= 4


def test_honest_carrier_nat_ip_has_hundreds_of_users(labelled: pd.DataFrame) -> None:
    organic = labelled[labelled["scheme"] == "organic"].dropna(subset=["ip"])
    assert organic.groupby("ip")["user_id"].nunique().max() >= 100


def test_honest_fan_clubs_react_within_minutes_on_every_post(
    labelled: pd.DataFrame,
) -> None:
    organic = labelled[labelled["scheme"] == "organic"]
    fast = organic[organic["ts"] - organic["published_at"] < pd.Timedelta(minutes=15)]
    posts_per_fan = fast.groupby(["creator_id", "user_id"])["post_id"].nunique()
    loyal = posts_per_fan[posts_per_fan >= 2].groupby(level="creator_id").size()
    assert (loyal >= 10).any()


def test_honest_viral_posts_burst_hours_after_publication(sim: SimulatedSet) -> None:
    without = simulate(replace(SMALL, viral_posts=False))
    extra = sim.events[~sim.events["event_id"].isin(without.events["event_id"])]
    truth = sim.truth_events.set_index("event_id").loc[extra["event_id"].unique()]
    assert truth["scheme"].isin(["organic", "replay"]).mean() > 0.95
    per_post = extra.groupby("post_id").size()
    burst_posts = per_post[per_post >= 200].index
    assert 1 <= len(burst_posts) <= 10
    published = sim.posts.set_index("post_id")["published_at"]
    burst = extra[extra["post_id"].isin(burst_posts)]
    delay_h = (burst["ts"] - burst["post_id"].map(published)).dt.total_seconds() / 3600
    assert delay_h.quantile(0.05) >= 3
    by_post = delay_h.groupby(burst["post_id"])
    assert (by_post.quantile(0.9) - by_post.quantile(0.1)).max() < 24


def test_lockstep_bots_engage_within_minutes(labelled: pd.DataFrame) -> None:
    bots = labelled[labelled["scheme"] == "bot_lockstep"]
    seconds = (bots["ts"] - bots["ts"].min()).dt.total_seconds().groupby(bots["post_id"])
    assert (seconds.quantile(0.9) - seconds.quantile(0.1) < 600).all()
    assert (bots.groupby("post_id")["user_id"].nunique() >= 40).all()


def test_click_farm_works_office_hours_in_triples(labelled: pd.DataFrame) -> None:
    farm = labelled[labelled["scheme"] == "click_farm"]
    hour = farm["ts"].dt.tz_convert("Asia/Shanghai").dt.hour
    assert hour.between(9, 18).mean() > 0.95
    comments = farm[farm["action"] == "comment"]
    top_text_count = comments.groupby("post_id")["comment_text"].agg(lambda t: t.value_counts().iloc[0])
    assert (top_text_count >= 3).all()
    per_worker = farm.groupby(["post_id", "user_id"])["ts"].agg(lambda ts: ts.max() - ts.min())
    assert (per_worker < pd.Timedelta(minutes=2)).all()


def test_drip_feed_spreads_over_days(labelled: pd.DataFrame) -> None:
    drip = labelled[labelled["scheme"] == "drip_feed"]
    span = drip.groupby("post_id")["ts"].agg(lambda ts: ts.max() - ts.min())
    assert (span > pd.Timedelta(days=1)).all()


def test_ring_creators_engage_as_users(labelled: pd.DataFrame, sim: SimulatedSet) -> None:
    ring = labelled[labelled["scheme"] == "ring"]
    ring_creators = set(sim.truth_creators.loc[sim.truth_creators["scheme"] == "ring", "creator_id"])
    assert 5 <= len(ring_creators) <= 12
    assert set(ring["user_id"]) & ring_creators
    assert set(ring["creator_id"]) == ring_creators


def test_a_pod_members_own_engagement_on_a_partners_post_is_ring_truth() -> None:
    """A ring creator's own account is an ordinary user too, but what it engages on a ring partner's
    post is the scheme (the partner is paid for it and pays back in kind): never labelled organic."""
    sim = simulate(SimConfig(seed=3, scale=0.65, multi_week=True))  # had 18 such organic labels
    events = sim.events.drop_duplicates("event_id").merge(sim.truth_events, on="event_id", validate="1:1")
    members = set(sim.truth_creators.loc[sim.truth_creators["scheme"] == "ring", "creator_id"])
    own = events[events["user_id"].isin(members) & (events["user_id"] != events["creator_id"])]
    ring = own[own["scheme"] == "ring"]
    partners = set(zip(ring["user_id"], ring["creator_id"], strict=True))
    organic = own[own["scheme"] == "organic"]
    on_partner = [pair in partners for pair in zip(organic["user_id"], organic["creator_id"], strict=True)]
    assert len(organic) > 20 and not any(on_partner)  # they engage elsewhere as themselves
    assert (own.loc[own["creator_id"].isin(members), "invalid"]).all()


def test_replay_copies_are_identical_rows(sim: SimulatedSet) -> None:
    events = sim.events
    repeated = events[events["event_id"].duplicated(keep=False)]
    assert len(repeated) > 0
    assert len(repeated.drop_duplicates()) == repeated["event_id"].nunique()


def test_replay_recounts_repeat_an_engagement_under_a_new_id(
    labelled: pd.DataFrame,
) -> None:
    recounts = labelled[labelled["scheme"] == "replay"]
    assert len(recounts) > 0
    key = ["post_id", "user_id", "action"]
    originals = labelled[labelled["scheme"] != "replay"].set_index(key)
    assert recounts.set_index(key).index.isin(originals.index).all()


def test_fraud_ids_look_like_honest_ids(labelled: pd.DataFrame) -> None:
    for column, pattern in [
        ("user_id", r"^[uc]\d{6,8}$"),
        ("device_id", r"^[0-9a-f]{16}$"),
        ("ip", r"^[0-9a-f]{12}$"),
    ]:
        values = labelled[column].dropna()
        assert values.str.fullmatch(pattern).all(), column
    fraud = labelled[labelled["invalid"]]
    assert not (fraud["ts"].dt.microsecond == 0).mean() > 0.01


def test_simconfig_rejects_a_bad_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        SimConfig(scale=0)


def test_write_simulated_set_round_trips(sim: SimulatedSet, tmp_path: Path) -> None:
    write_simulated_set(sim, tmp_path)
    frames = {
        "events.parquet": sim.events,
        "posts.parquet": sim.posts,
        "campaigns.parquet": sim.campaigns,
        "truth/events.parquet": sim.truth_events,
        "truth/creators.parquet": sim.truth_creators,
    }
    for name, frame in frames.items():
        read = pd.read_parquet(tmp_path / name)
        pd.testing.assert_frame_equal(read, frame, check_dtype=True)
    assert np.array_equal(read.columns, sim.truth_creators.columns)


HONEST_SMALL = SimConfig(seed=5, scale=0.3).honest_only()
HONEST_STUDIOS = SimConfig(seed=5, scale=1.0).honest_only()  # enough creators for several studios


def _creator_studios(sim: SimulatedSet) -> pd.Series:
    posts = sim.posts.dropna(subset=["studio_id"])
    return posts.drop_duplicates("creator_id").set_index("creator_id")["studio_id"]


def _honest(sim: SimulatedSet) -> pd.DataFrame:
    events = sim.events.drop_duplicates("event_id").merge(sim.truth_events, on="event_id", validate="1:1")
    return events[~events["invalid"]]


def _studio_regulars(events: pd.DataFrame, studios: pd.Series) -> int:
    """Number of (user, studio) pairs whose user engages three or more of the studio's creators."""
    signed = events.assign(studio=events["creator_id"].map(studios)).dropna(subset=["studio"])
    creators_engaged = signed.groupby(["user_id", "studio"])["creator_id"].nunique()
    return int((creators_engaged >= 3).sum())


@pytest.fixture(scope="module")
def studio_sim() -> SimulatedSet:
    return simulate(replace(HONEST_STUDIOS, studios=True))


def test_studios_group_creators_of_one_platform(studio_sim: SimulatedSet) -> None:
    posts = studio_sim.posts.dropna(subset=["studio_id"])
    assert posts["studio_id"].nunique() >= 5
    assert (posts.groupby("studio_id")["platform"].nunique() == 1).all()
    assert (posts.groupby("studio_id")["creator_id"].nunique() >= 2).all()


def test_studio_fans_engage_several_creators_of_their_studio(studio_sim: SimulatedSet) -> None:
    studios = _creator_studios(studio_sim)
    without = simulate(HONEST_STUDIOS)  # same creators, no shared fans or cross-promotion
    # Heavy users already touch several creators by chance; shared fans add many more.
    assert _studio_regulars(_honest(studio_sim), studios) > 1.3 * _studio_regulars(_honest(without), studios)


def test_studio_creators_cross_promote_at_human_pace(studio_sim: SimulatedSet) -> None:
    studios = _creator_studios(studio_sim)
    events = _honest(studio_sim)
    mates = events[
        events["user_id"].map(studios).notna()
        & (events["user_id"].map(studios) == events["creator_id"].map(studios))
    ]
    assert mates["user_id"].nunique() >= 10
    published = studio_sim.posts.set_index("post_id")["published_at"]
    delay = events.loc[mates.index, "ts"] - mates["post_id"].map(published)
    assert delay.median() > pd.Timedelta(minutes=30)
    assert (studio_sim.truth_events["scheme"] == "organic").all()


def test_giveaways_draw_fast_near_identical_honest_comments() -> None:
    base = simulate(HONEST_SMALL)
    sim = simulate(replace(HONEST_SMALL, giveaways=True))
    kept = base.events["event_id"].isin(sim.events["event_id"]).mean()
    assert kept > 0.99  # the rest of the honest traffic stays as it was
    entries = _honest(sim)[~sim.events["event_id"].drop_duplicates().isin(base.events["event_id"]).to_numpy()]
    assert len(entries) > 200
    assert (sim.truth_events["scheme"] == "organic").all() and not sim.truth_events["invalid"].any()
    published = sim.posts.set_index("post_id")["published_at"]
    delay = entries["ts"] - entries["post_id"].map(published)
    assert delay.median() < pd.Timedelta(minutes=20)
    comments = entries.loc[entries["action"] == "comment", "comment_text"]
    assert comments.value_counts().iloc[:5].sum() > 0.5 * len(comments)
    per_post = entries.groupby("post_id")["user_id"].nunique()
    assert (per_post >= 30).all()


def test_communities_rarely_meet() -> None:
    sim = simulate(replace(HONEST_SMALL, communities=2))
    community = sim.truth_audiences.set_index("user_id")["community"]
    assert set(community) == {0, 1}
    events = _honest(sim)
    user_side = events["user_id"].map(community)
    creator_side = events["creator_id"].map(community)
    assert user_side.notna().all() and creator_side.notna().all()
    assert 0.0 < (user_side != creator_side).mean() < 0.03
    assert simulate(HONEST_SMALL).truth_audiences.empty


def test_communities_keep_studios_in_one_audience() -> None:
    sim = simulate(replace(HONEST_STUDIOS, communities=3, studios=True))
    community = sim.truth_audiences.set_index("user_id")["community"]
    studios = _creator_studios(sim)
    assert (community.reindex(studios.index).groupby(studios.to_numpy()).nunique() == 1).all()


def test_simconfig_rejects_bad_communities() -> None:
    with pytest.raises(ValueError, match="communities"):
        SimConfig(communities=0)


def test_honest_only_switches_every_scheme_off() -> None:
    sim = simulate(HONEST_SMALL)
    assert not sim.truth_events["invalid"].any()
    assert (sim.truth_events["copies"] == 1).all()


def test_multi_week_world_has_new_clients_each_week_and_sellers_keep_their_pools() -> None:
    sim = simulate(SimConfig(seed=3, scale=0.65, multi_week=True))
    campaigns = sim.campaigns.sort_values("window_start")
    weeks = (campaigns["window_start"] - campaigns["window_start"].min()) // pd.Timedelta(days=7)
    assert (campaigns["window_end"] - campaigns["window_start"] == pd.Timedelta(days=7)).all()
    assert weeks.value_counts().sort_index().tolist() == [4, 4, 4, 4]  # every platform, every week
    truth = sim.truth_events.merge(
        sim.events[["event_id", "user_id", "campaign_id"]].drop_duplicates("event_id")
    )
    week_of = dict(zip(campaigns["campaign_id"], weeks, strict=True))
    sold = truth[truth["scheme"].isin(["aged_accounts", "bot_lockstep"])]
    weeks_per_account = (
        sold.assign(week=sold["campaign_id"].map(week_of)).groupby("user_id")["week"].nunique()
    )
    # the same seller accounts serve clients in several weeks, a few orders a week
    assert (weeks_per_account >= 2).mean() > 0.5
    bought_posts = sold.groupby(sold["campaign_id"].map(week_of))["event_id"].size()
    assert len(bought_posts) >= 3
