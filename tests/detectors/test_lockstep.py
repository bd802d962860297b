"""Tests for detectors.lockstep: injected bot lockstep is found, honest crowds are not."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.base import Detection
from detectors.lockstep import LockstepParams, lockstep_chance, lockstep_groups

PARAMS = LockstepParams()

T0 = pd.Timestamp("2024-06-01", tz="UTC")
DAY_S = 86_400.0
N_USERS, N_POSTS, N_CREATORS = 20_000, 2_000, 300

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def _organic(rng: np.random.Generator, *, n_pairs: int = 40_000) -> tuple[pd.DataFrame, Ints, Floats]:
    """Background: heavy-tailed users and posts, reactions hours after publication."""
    creator = rng.integers(0, N_CREATORS, N_POSTS)
    published_s = rng.uniform(0, 7 * DAY_S, N_POSTS)
    post_w = rng.lognormal(0, 1.5, N_POSTS)
    user_w = rng.lognormal(0, 1.2, N_USERS)
    p = rng.choice(N_POSTS, n_pairs, p=post_w / post_w.sum())
    u = rng.choice(N_USERS, n_pairs, p=user_w / user_w.sum())
    t = published_s[p] + rng.exponential(6 * 3600, n_pairs)
    return pd.DataFrame({"u": u, "p": p, "t": t, "label": "organic"}), creator, published_s


def _bot_farm(
    rng: np.random.Generator,
    published_s: Floats,
    *,
    n_farm: int = 300,
    n_bought: int = 12,
    per_post: tuple[int, int] = (50, 200),
    burst_s: float = 180.0,
) -> pd.DataFrame:
    """Aged accounts (they have organic history too) hitting bought posts within minutes."""
    farm = rng.choice(N_USERS, n_farm, replace=False)
    parts = []
    for p in rng.choice(N_POSTS, n_bought, replace=False):
        who = rng.choice(farm, min(n_farm, int(rng.integers(*per_post))), replace=False)
        start = published_s[p] + rng.uniform(2 * 3600, 3 * DAY_S)  # unrelated to publication
        parts.append(pd.DataFrame({"u": who, "p": p, "t": start + rng.uniform(0, burst_s, len(who))}))
    return pd.concat(parts).assign(label="bot")


def _fan_club(
    rng: np.random.Generator,
    posts: Ints,
    published_s: Floats,
    *,
    n_fans: int = 150,
    delay_s: float = 600.0,
    lognormal: bool = False,
) -> pd.DataFrame:
    """Fans reacting to each of one creator's posts: exponential delays, or fast lognormal ones."""
    fans = rng.choice(N_USERS, n_fans, replace=False)
    rate = rng.uniform(0.5, 0.9, n_fans)
    speed = np.exp(rng.normal(0.0, 0.5, n_fans))  # some fans are always first
    parts = []
    for p in posts:
        takes_part = rng.random(n_fans) < rate
        if lognormal:  # median 3-10 minutes per post, like a push notification
            median_s = rng.uniform(180.0, 600.0)
            delay = np.exp(rng.normal(np.log(median_s), 0.8, n_fans)) * speed
        else:
            delay = rng.exponential(delay_s, n_fans)
        parts.append(pd.DataFrame({"u": fans[takes_part], "p": p, "t": published_s[p] + delay[takes_part]}))
    return pd.concat(parts).assign(label="fan")


def _events(parts: list[pd.DataFrame], creator: Ints, seed: int = 0) -> pd.DataFrame:
    """Engagements to an events frame; some engagements get a second action."""
    rng = np.random.default_rng(seed + 1000)
    df = pd.concat(parts, ignore_index=True).drop_duplicates(["u", "p"], keep="last")
    extra = df[rng.random(len(df)) < 0.3].assign(t=lambda d: d["t"] + rng.uniform(1, 60, len(d)))
    df = pd.concat([df, extra], ignore_index=True)
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(df))],
            "user_id": "u" + df["u"].astype(str),
            "post_id": "p" + df["p"].astype(str),
            "creator_id": "c" + pd.Series(creator[df["p"].to_numpy()]).astype(str),
            "ts": T0 + pd.to_timedelta(df["t"].to_numpy(), unit="s"),
            "action": np.array(["like", "favorite", "comment", "share"])[rng.integers(0, 4, len(df))],
            "label": df["label"].to_numpy(),
        }
    )
    return events.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _posts(creator: Ints, published_s: Floats) -> pd.DataFrame:
    """The optional posts table: publication times."""
    return pd.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(N_POSTS)],
            "creator_id": [f"c{c}" for c in creator],
            "published_at": T0 + pd.to_timedelta(published_s, unit="s"),
        }
    )


def _with_farm(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    organic, creator, published_s = _organic(rng)
    events = _events([organic, _bot_farm(rng, published_s)], creator, seed)
    return events, _posts(creator, published_s)


def _assert_valid(d: Detection, n_events: int) -> None:
    assert d.name == "lockstep"
    assert d.event_score.shape == (n_events,) and d.event_score.dtype == np.float64
    assert d.event_group.shape == (n_events,) and d.event_group.dtype == np.int64
    assert np.all((d.event_score >= 0) & (d.event_score <= 1))
    assert np.array_equal(d.event_score > 0, d.event_group >= 0)
    assert np.all(d.event_score[d.event_score > 0] >= 0.5)
    assert set(np.unique(d.event_group)) <= {-1, *d.groups["group_id"].tolist()}
    assert {"group_id", "n_accounts", "n_posts", "evidence"} <= set(d.groups.columns)


def _recall_precision(d: Detection, events: pd.DataFrame) -> tuple[float, float]:
    flagged, is_bot = d.event_score > 0, (events["label"] == "bot").to_numpy()
    hit = float((flagged & is_bot).sum())
    return hit / max(1, int(is_bot.sum())), hit / max(1, int(flagged.sum()))


@pytest.mark.parametrize("seed", [0, 1])
def test_lockstep_groups_finds_injected_bot_farm(seed: int) -> None:
    events, posts = _with_farm(seed)
    d = lockstep_groups(events, posts=posts, params=PARAMS)
    recall, precision = _recall_precision(d, events)
    assert recall >= 0.9 and precision >= 0.95
    assert len(d.groups) == 1
    group = d.groups.iloc[0]
    assert group["n_posts"] == 12 and group["n_creators"] >= 2
    assert 250 <= group["n_accounts"] <= 300
    assert group["median_spread_s"] <= 180.0
    _assert_valid(d, len(events))


def test_lockstep_groups_finds_the_farm_without_a_posts_table() -> None:
    # Publication is then the post's first engagement, which on a quiet post may be
    # the burst itself: such a post is judged as if fans reacted, so a few are lost.
    events, _ = _with_farm(0)
    d = lockstep_groups(events, params=PARAMS)
    recall, precision = _recall_precision(d, events)
    assert recall >= 0.85 and precision >= 0.95
    assert d.groups["n_posts"].tolist()[0] >= 10


def test_lockstep_groups_evidence_states_the_counts() -> None:
    events, posts = _with_farm(0)
    d = lockstep_groups(events, posts=posts, params=PARAMS)
    row = d.groups.iloc[0]
    text = row["evidence"]
    assert text.startswith("lockstep: ")
    assert f"{row['n_accounts']} accounts" in text
    assert f"{row['n_posts']} posts (of {row['n_creators']} creators)" in text
    assert f"{row['n_events']} engagements" in text
    assert "within 5 minutes" in text
    flagged = events[d.event_group == row["group_id"]]
    assert row["n_events"] == len(flagged)
    assert row["n_accounts"] == flagged["user_id"].nunique()
    assert set(row["post_ids"]) == set(flagged["post_id"])
    assert abs(row["first_ts"] - flagged["ts"].min()) < pd.Timedelta(milliseconds=1)


def test_lockstep_groups_flags_every_action_of_a_synchronized_engagement() -> None:
    events, posts = _with_farm(0)
    d = lockstep_groups(events, posts=posts, params=PARAMS)
    flagged_pairs = events.loc[d.event_score > 0, ["user_id", "post_id"]].drop_duplicates()
    all_actions = events.merge(flagged_pairs, on=["user_id", "post_id"])
    assert len(all_actions) == int((d.event_score > 0).sum())


def test_lockstep_groups_ignores_a_viral_post() -> None:
    rng = np.random.default_rng(3)
    organic, creator, published_s = _organic(rng)
    viral = int(np.argmax(np.bincount(organic["p"], minlength=N_POSTS)))
    users = rng.choice(N_USERS, 10_000, replace=False)  # 10,000 engagers, most within the hour
    burst = pd.DataFrame(
        {"u": users, "p": viral, "t": published_s[viral] + rng.exponential(900, len(users)), "label": "viral"}
    )
    events = _events([organic, burst], creator)
    d = lockstep_groups(events, params=PARAMS)
    assert not np.any(d.event_score > 0)
    assert d.groups.empty
    _assert_valid(d, len(events))


@pytest.mark.parametrize("delay_s", [600.0, 1800.0])
@pytest.mark.parametrize("has_background", [True, False])
def test_lockstep_groups_ignores_a_fan_club(delay_s: float, has_background: bool) -> None:
    rng = np.random.default_rng(4)
    organic, creator, published_s = _organic(rng)
    posts = np.arange(N_POSTS - 20, N_POSTS)
    creator[posts] = N_CREATORS  # one creator with 20 posts
    if not has_background:  # only fans engage: nothing else to compare them with
        organic = organic[~organic["p"].isin(posts)]
    fans = _fan_club(rng, posts, published_s, delay_s=delay_s)
    events = _events([organic, fans], creator)
    assert not np.any(lockstep_groups(events, params=PARAMS).event_score > 0)
    assert not np.any(
        lockstep_groups(events, posts=_posts(creator, published_s), params=PARAMS).event_score > 0
    )


@pytest.mark.parametrize("seed", [5, 6])
def test_lockstep_groups_ignores_a_fast_fan_club(seed: int) -> None:
    # Fans pushed a notification: half of them within 3-10 minutes, and the same
    # fans always first.  Timing alone looks like bots; publication explains it.
    rng = np.random.default_rng(seed)
    organic, creator, published_s = _organic(rng)
    posts = np.arange(N_POSTS - 30, N_POSTS)
    creator[posts] = N_CREATORS
    organic = organic[~organic["p"].isin(posts)]
    fans = _fan_club(rng, posts, published_s, lognormal=True)
    events = _events([organic, fans], creator)
    assert not np.any(lockstep_groups(events, params=PARAMS).event_score > 0)
    assert not np.any(
        lockstep_groups(events, posts=_posts(creator, published_s), params=PARAMS).event_score > 0
    )


def test_lockstep_groups_fan_club_is_only_spared_by_its_timing() -> None:
    # The same fans are a lockstep group if honest crowds may not bunch at all:
    # the fan tests above are not passing for want of a candidate group.
    rng = np.random.default_rng(4)
    organic, creator, published_s = _organic(rng)
    posts = np.arange(N_POSTS - 20, N_POSTS)
    creator[posts] = N_CREATORS
    events = _events([organic, _fan_club(rng, posts, published_s)], creator)
    d = lockstep_groups(events, params=LockstepParams(honest_delay_s=DAY_S, fan_delay_s=DAY_S))
    assert d.groups["n_creators"].tolist() == [1]
    assert set(events.loc[d.event_score > 0, "label"]) == {"fan"}


def test_lockstep_groups_ignores_active_heavy_users() -> None:
    rng = np.random.default_rng(5)
    organic, creator, published_s = _organic(rng)
    popular = np.argsort(-np.bincount(organic["p"], minlength=N_POSTS))[:300]
    heavy = rng.choice(N_USERS, 500, replace=False)
    parts = [organic]
    for u in heavy:  # each engages ~90 popular posts, many within the hour
        ps = popular[rng.random(len(popular)) < 0.3]
        parts.append(
            pd.DataFrame(
                {"u": u, "p": ps, "label": "heavy", "t": published_s[ps] + rng.exponential(3600, len(ps))}
            )
        )
    events = _events(parts, creator)
    assert not np.any(lockstep_groups(events, params=PARAMS).event_score > 0)


def test_lockstep_groups_flags_a_large_tight_burst_at_publication() -> None:
    # A creator buying for its own posts right at publication: one creator, fan-like
    # onset, but 200 accounts within 2 minutes is more than a fan club does.
    rng = np.random.default_rng(6)
    organic, creator, published_s = _organic(rng)
    posts = np.arange(10)
    creator[posts] = N_CREATORS
    farm = rng.choice(N_USERS, 300, replace=False)
    bots = [
        pd.DataFrame({"u": who, "p": p, "t": published_s[p] + rng.uniform(0, 120, len(who))})
        for p in posts
        for who in [farm[rng.random(len(farm)) < 0.7]]
    ]
    events = _events([organic, pd.concat(bots).assign(label="bot")], creator)
    d = lockstep_groups(events, posts=_posts(creator, published_s), params=PARAMS)
    recall, precision = _recall_precision(d, events)
    assert recall >= 0.9 and precision >= 0.95
    assert d.groups["n_creators"].tolist() == [1]


def test_lockstep_groups_is_deterministic_and_ignores_row_order() -> None:
    events, _ = _with_farm(0)
    first, second = lockstep_groups(events, params=PARAMS), lockstep_groups(events, params=PARAMS)
    assert np.array_equal(first.event_score, second.event_score)
    assert np.array_equal(first.event_group, second.event_group)
    pd.testing.assert_frame_equal(first.groups, second.groups)
    order = np.random.default_rng(9).permutation(len(events))
    shuffled = lockstep_groups(events.iloc[order].reset_index(drop=True), params=PARAMS)
    assert np.array_equal(shuffled.event_score, first.event_score[order])
    assert np.array_equal(shuffled.event_group, first.event_group[order])


def test_lockstep_groups_does_not_modify_its_input() -> None:
    events, posts = _with_farm(1)
    before, posts_before = events.copy(), posts.copy()
    lockstep_groups(events, posts=posts, params=PARAMS)
    pd.testing.assert_frame_equal(events, before)
    pd.testing.assert_frame_equal(posts, posts_before)


def test_lockstep_groups_on_empty_input() -> None:
    events = pd.DataFrame(
        {
            "user_id": pd.Series(dtype="string"),
            "post_id": pd.Series(dtype="string"),
            "creator_id": pd.Series(dtype="string"),
            "ts": pd.Series(dtype="datetime64[us, UTC]"),
            "action": pd.Series(dtype="string"),
        }
    )
    d = lockstep_groups(events, params=PARAMS)
    assert len(d.event_score) == 0 and len(d.event_group) == 0
    assert d.groups.empty and "evidence" in d.groups.columns


def test_lockstep_groups_keeps_the_groups_columns_when_nothing_is_found() -> None:
    events, posts = _with_farm(0)
    found = lockstep_groups(events, posts=posts, params=PARAMS).groups
    nothing = lockstep_groups(events.head(200), params=PARAMS).groups
    assert nothing.empty
    pd.testing.assert_series_equal(nothing.dtypes, found.dtypes)


def test_lockstep_groups_on_a_few_events_finds_nothing() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["a", "b", "a"],
            "post_id": ["p", "p", "q"],
            "creator_id": ["c", "c", "c"],
            "ts": pd.to_datetime(["2024-06-01T00:00:00Z"] * 3),
            "action": ["like"] * 3,
        }
    )
    d = lockstep_groups(events, params=PARAMS)
    _assert_valid(d, 3)
    assert not np.any(d.event_score > 0)


def test_lockstep_groups_never_flags_rows_without_ids_or_time() -> None:
    events, posts = _with_farm(0)
    events["user_id"] = events["user_id"].astype(object)
    broken = events.index[:50]
    events.loc[broken[:25], "user_id"] = None
    events.loc[broken[25:], "ts"] = pd.NaT
    d = lockstep_groups(events, posts=posts, params=PARAMS)
    _assert_valid(d, len(events))
    assert not np.any(d.event_score[broken] > 0)
    assert _recall_precision(d, events)[0] >= 0.9


@pytest.mark.parametrize(
    "option",
    [
        {"window_s": 0.0},
        {"honest_delay_s": -1.0},
        {"fan_delay_s": 0.0},
        {"min_accounts": 1},
        {"min_posts": 1},
        {"min_post_log10": 0.0},
    ],
)
def test_lockstep_params_reject_bad_values(option: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LockstepParams(**option)  # type: ignore[arg-type]


def _giveaways(rng: np.random.Generator, published_s: Floats, posts: Ints, *, hunters: int) -> pd.DataFrame:
    """Giveaway posts ("like and comment to win"): thousands of honest entrants within minutes of publication.

    Entrants of each giveaway are drawn from ``hunters`` users, so with several
    giveaways many users enter more than one.
    """
    pool = rng.choice(N_USERS, hunters, replace=False)
    parts = []
    for p in posts:
        who = rng.choice(pool, min(3_000, hunters), replace=False)
        parts.append(pd.DataFrame({"u": who, "p": p, "t": published_s[p] + rng.exponential(240, len(who))}))
    return pd.concat(parts).assign(label="giveaway")


@pytest.mark.parametrize(("n_giveaways", "hunters"), [(1, 3_000), (3, 8_000)])
def test_lockstep_groups_ignores_giveaways(n_giveaways: int, hunters: int) -> None:
    """A giveaway's entrants are one crowd on one post; hunters entering several meet only by chance."""
    rng = np.random.default_rng(11)
    organic, creator, published_s = _organic(rng)
    posts = rng.choice(N_POSTS, n_giveaways, replace=False)
    events = _events([organic, _giveaways(rng, published_s, posts, hunters=hunters)], creator)
    d = lockstep_groups(events, posts=_posts(creator, published_s), params=PARAMS)
    assert not np.any(d.event_score > 0), d.groups


def _two_platforms(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A window of two platforms: ``a`` holds a small farm the MinHash seeds only by luck, ``b`` (ids
    prefixed ``b``, so its accounts rank before ``a``'s) another; and the posts of both."""
    rng = np.random.default_rng(seed)
    organic, creator, published_s = _organic(rng)
    farm = _bot_farm(rng, published_s, n_farm=25, n_bought=4, per_post=(10, 20))
    a, posts_a = _events([organic, farm], creator, seed), _posts(creator, published_s)
    rng = np.random.default_rng(seed + 100)
    organic, creator, published_s = _organic(rng)
    farm = _bot_farm(rng, published_s, n_farm=10, n_bought=2, per_post=(5, 10))
    b, posts_b = _events([organic, farm], creator, seed + 100), _posts(creator, published_s)
    ids = ["event_id", "user_id", "post_id", "creator_id"]
    b = b.assign(**{c: "b" + b[c] for c in ids})
    posts_b = posts_b.assign(**{c: "b" + posts_b[c] for c in ("post_id", "creator_id")})
    window = pd.concat([b, a], ignore_index=True)
    return window, a, pd.concat([posts_b, posts_a], ignore_index=True)


def test_lockstep_groups_hashing_account_ids_scores_a_platform_alone_as_the_window() -> None:
    """A platform's rows alone (a Spark shard, with the window's grid origin and engagements) seed the
    window's groups when the MinHash keys hash the account ids; keyed by the accounts' ranks among the
    rows given, the other platform's accounts move ``a``'s keys and the farm is found in one run only."""
    window, a, posts = _two_platforms(15)
    chance = lockstep_chance(window)
    is_a = window["user_id"].str.startswith("u").to_numpy()
    found = {}
    for hashed in (False, True):
        params = LockstepParams(hash_account_ids=hashed)
        whole = lockstep_groups(window, params=params, posts=posts)
        alone = lockstep_groups(a, params=params, posts=posts, chance=chance)
        found[hashed] = whole.event_score[is_a], alone.event_score
    bots = (a["label"] == "bot").to_numpy()
    codes_whole, codes_alone = found[False]
    assert (codes_whole > 0).sum() != (codes_alone > 0).sum()  # measured: 84 events flagged, 0 alone
    hashed_whole, hashed_alone = found[True]
    np.testing.assert_array_equal(hashed_alone, hashed_whole)
    assert (hashed_whole[bots] > 0).sum() > 0.9 * bots.sum() and (hashed_whole[~bots] == 0).all()


def test_lockstep_groups_account_keys_are_the_same_for_any_id_dtype() -> None:
    """The hashed keys do not depend on how the ids are stored (object, string or categorical)."""
    events, posts = _with_farm(0)
    params = LockstepParams(hash_account_ids=True)
    plain = lockstep_groups(events.astype({"user_id": object}), params=params, posts=posts)
    assert (plain.event_score > 0).sum() > 1000
    for dtype in ("str", "category"):
        other = lockstep_groups(events.astype({"user_id": dtype}), params=params, posts=posts)
        np.testing.assert_array_equal(other.event_score, plain.event_score)
