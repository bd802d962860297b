"""Tests for detectors.dense: injected farms are found, honest dense structure is not."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from benchmarks.fraudar_reference import fraudar_reference, random_graph_with_block
from detectors.base import Detection
from detectors.dense import COLUMNS, NAME, DenseBlockParams, dense_blocks, densest_block

PARAMS = DenseBlockParams()

N_USERS = 3000
N_CREATORS = 60
POSTS_PER_CREATOR = 5


def _background(rng: np.random.Generator, n_edges: int = 9000) -> pd.DataFrame:
    """Honest-looking engagement: skewed account activity and post popularity."""
    activity = rng.lognormal(0.0, 1.0, N_USERS)
    n_posts = N_CREATORS * POSTS_PER_CREATOR
    popularity = 1.0 / np.arange(1, n_posts + 1) ** 0.9
    users = rng.choice(N_USERS, n_edges, p=activity / activity.sum())
    posts = rng.permutation(n_posts)[rng.choice(n_posts, n_edges, p=popularity / popularity.sum())]
    return _frame(users, posts)


def _frame(users: npt.NDArray[np.int64], posts: npt.NDArray[np.int64]) -> pd.DataFrame:
    """Events with string ids; post p belongs to creator p // POSTS_PER_CREATOR."""
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "post_id": [f"p{p}" for p in posts],
            "creator_id": [f"c{p // POSTS_PER_CREATOR}" for p in posts],
            "action": "like",
        }
    )


def _farm(
    rng: np.random.Generator,
    accounts: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    *,
    low: float = 0.4,
    high: float = 0.7,
) -> pd.DataFrame:
    """Each account engages a share in [low, high] of ``posts`` (likes and some favorites)."""
    rate = rng.uniform(low, high, accounts.size)
    hit = rng.random((accounts.size, posts.size)) < rate[:, None]
    i, j = np.nonzero(hit)
    likes = _frame(accounts[i], posts[j])
    favorites = likes.iloc[::3].assign(action="favorite")
    return pd.concat([likes, favorites], ignore_index=True)


def _spread_posts(creators: list[int], per_creator: int = 3) -> npt.NDArray[np.int64]:
    """The first ``per_creator`` posts of each creator."""
    return np.array([c * POSTS_PER_CREATOR + k for c in creators for k in range(per_creator)], dtype=np.int64)


def _flagged_users(events: pd.DataFrame, detection: Detection, group_id: int) -> set[str]:
    return set(events["user_id"].to_numpy()[detection.event_group == group_id])


def _farm_users(accounts: npt.NDArray[np.int64]) -> set[str]:
    return {f"u{a}" for a in accounts}


def test_dense_blocks_finds_injected_farm() -> None:
    rng = np.random.default_rng(1)
    accounts = np.arange(5000, 5080)  # fresh accounts that only work for the farm
    posts = _spread_posts([3, 17, 29, 41, 48, 55], per_creator=2)
    events = pd.concat([_background(rng), _farm(rng, accounts, posts)], ignore_index=True)
    detection = dense_blocks(events, params=PARAMS)
    assert len(detection.groups) == 1
    flagged = _flagged_users(events, detection, 0)
    farm = _farm_users(accounts)
    assert len(flagged & farm) / len(farm) >= 0.9
    assert len(flagged - farm) <= 2
    group = detection.groups.iloc[0]
    assert group["n_posts"] == 12
    assert group["lift"] >= 2.5
    assert group["evidence"].startswith(f"{NAME}: {group['n_accounts']} accounts engaged 12 posts")


def test_dense_blocks_finds_farm_of_aged_accounts_with_history() -> None:
    rng = np.random.default_rng(2)
    accounts = rng.choice(N_USERS, 100, replace=False)  # accounts with honest-looking history
    events = pd.concat(
        [_background(rng), _farm(rng, accounts, _spread_posts([5, 11, 23, 37, 52], 2))],
        ignore_index=True,
    )
    detection = dense_blocks(events, params=PARAMS)
    assert len(detection.groups) == 1
    flagged = _flagged_users(events, detection, 0)
    farm = _farm_users(accounts)
    assert len(flagged & farm) / len(farm) >= 0.85
    assert len(flagged - farm) <= 3


def test_dense_blocks_finds_several_farms() -> None:
    rng = np.random.default_rng(3)
    farms = [
        (np.arange(5000, 5150), _spread_posts([1, 2, 9, 30, 44])),
        (np.arange(6000, 6060), _spread_posts([12, 33, 47, 58, 59], 2)),
        (np.arange(7000, 7040), _spread_posts([6, 20, 38, 51, 55], 2)),
    ]
    events = pd.concat(
        [_background(rng)] + [_farm(rng, accounts, posts) for accounts, posts in farms],
        ignore_index=True,
    )
    detection = dense_blocks(events, params=PARAMS)
    assert len(detection.groups) == 3
    for accounts, _ in farms:
        farm = _farm_users(accounts)
        best = max(len(_flagged_users(events, detection, g) & farm) for g in detection.groups["group_id"])
        assert best / len(farm) >= 0.85
    flagged_all = set(events["user_id"].to_numpy()[detection.event_group >= 0])
    assert len(flagged_all - set().union(*(_farm_users(a) for a, _ in farms))) <= 3


def test_dense_blocks_ignores_viral_post() -> None:
    rng = np.random.default_rng(4)
    fans = rng.choice(N_USERS, 2000, replace=False)
    viral = _frame(fans, np.full(fans.size, 7, dtype=np.int64))
    events = pd.concat([_background(rng), viral], ignore_index=True)
    detection = dense_blocks(events, params=PARAMS)
    assert detection.groups.empty
    assert not detection.event_score.any()


def test_dense_blocks_ignores_active_users_on_popular_posts() -> None:
    rng = np.random.default_rng(5)
    n_posts = N_CREATORS * POSTS_PER_CREATOR
    popularity = 1.0 / np.arange(1, n_posts + 1) ** 1.2
    heavy = np.repeat(np.arange(300), 40)  # 300 heavy users, 40 draws each from popular posts
    posts = rng.choice(n_posts, heavy.size, p=popularity / popularity.sum())
    events = pd.concat([_background(rng), _frame(heavy, posts)], ignore_index=True)
    detection = dense_blocks(events, params=PARAMS)
    assert detection.groups.empty


def test_dense_blocks_ignores_fan_club_of_one_creator() -> None:
    rng = np.random.default_rng(6)
    fans = rng.choice(N_USERS, 40, replace=False)
    club = _farm(rng, fans, _spread_posts([13], per_creator=5), low=0.7, high=0.7)
    events = pd.concat([_background(rng), club], ignore_index=True)
    detection = dense_blocks(events, params=PARAMS)
    assert detection.groups.empty


def test_dense_blocks_ignores_fan_club_of_forty_fans_on_six_posts() -> None:
    # The brief's case: 40 fans engage a creator's 6 posts at 70% participation.
    rng = np.random.default_rng(7)
    fans = rng.choice(N_USERS, 40, replace=False)
    hit = rng.random((40, 6)) < 0.7
    i, j = np.nonzero(hit)
    club = pd.DataFrame(
        {
            "user_id": [f"u{f}" for f in fans[i]],
            "post_id": [f"club{k}" for k in j],
            "creator_id": "c_club",
            "action": "like",
        }
    )
    events = pd.concat([_background(rng), club], ignore_index=True)
    assert dense_blocks(events, params=PARAMS).groups.empty


def test_dense_blocks_background_only_is_empty() -> None:
    rng = np.random.default_rng(8)
    events = _background(rng)
    detection = dense_blocks(events, params=PARAMS)
    assert detection.groups.empty
    assert list(detection.groups.columns) == COLUMNS
    assert detection.event_score.shape == (len(events),)
    assert (detection.event_group == -1).all()


def test_dense_blocks_empty_input() -> None:
    events = pd.DataFrame({"user_id": pd.Series(dtype="string"), "post_id": pd.Series(dtype="string")})
    detection = dense_blocks(events, params=PARAMS)
    assert detection.name == NAME
    assert detection.event_score.shape == (0,)
    assert detection.event_group.dtype == np.int64
    assert list(detection.groups.columns) == COLUMNS
    assert detection.groups.empty


def test_dense_blocks_scores_are_aligned_and_bounded() -> None:
    rng = np.random.default_rng(9)
    accounts = np.arange(5000, 5060)
    events = pd.concat(
        [_background(rng), _farm(rng, accounts, _spread_posts([4, 8, 15, 16, 23]))],
        ignore_index=True,
    )
    events.loc[3, "user_id"] = None  # a row without an account scores 0
    detection = dense_blocks(events, params=PARAMS)
    score, group = detection.event_score, detection.event_group
    assert score.dtype == np.float64 and group.dtype == np.int64
    assert score.shape == group.shape == (len(events),)
    assert ((score >= 0) & (score <= 1)).all()
    assert ((score > 0) == (group >= 0)).all()
    assert score[3] == 0 and group[3] == -1
    in_farm = events["user_id"].isin(_farm_users(accounts)).to_numpy()
    assert (score[in_farm] > 0).mean() > 0.5
    assert (group[~in_farm] >= 0).sum() <= 10
    # A like and a favorite on the same (user, post) edge share one score.
    pair = events["user_id"].astype(str) + "|" + events["post_id"]
    per_pair = pd.Series(score).groupby(pair.to_numpy()).nunique()
    assert (per_pair == 1).all()


def test_dense_blocks_is_deterministic_and_order_free() -> None:
    rng = np.random.default_rng(10)
    accounts = np.arange(5000, 5070)
    events = pd.concat(
        [_background(rng), _farm(rng, accounts, _spread_posts([2, 19, 31, 47]))], ignore_index=True
    )
    first, second = dense_blocks(events, params=PARAMS), dense_blocks(events, params=PARAMS)
    np.testing.assert_array_equal(first.event_score, second.event_score)
    np.testing.assert_array_equal(first.event_group, second.event_group)
    pd.testing.assert_frame_equal(first.groups, second.groups)
    order = rng.permutation(len(events))
    shuffled = dense_blocks(events.iloc[order].reset_index(drop=True), params=PARAMS)
    np.testing.assert_array_equal(shuffled.event_score, first.event_score[order])
    np.testing.assert_array_equal(shuffled.event_group, first.event_group[order])


def test_dense_blocks_does_not_mutate_input() -> None:
    rng = np.random.default_rng(11)
    events = pd.concat(
        [_background(rng), _farm(rng, np.arange(5000, 5050), _spread_posts([1, 2, 3]))],
        ignore_index=True,
    )
    before = events.copy()
    dense_blocks(events, params=PARAMS)
    pd.testing.assert_frame_equal(events, before)


def test_dense_blocks_without_creators_uses_degree_null() -> None:
    rng = np.random.default_rng(12)
    accounts = np.arange(5000, 5080)
    events = pd.concat(
        [_background(rng), _farm(rng, accounts, _spread_posts([3, 17, 29, 41]))], ignore_index=True
    ).drop(columns="creator_id")
    detection = dense_blocks(events, params=PARAMS)
    assert len(detection.groups) == 1
    assert detection.groups["n_creators"].iloc[0] == 0
    farm = _farm_users(accounts)
    assert len(_flagged_users(events, detection, 0) & farm) / len(farm) >= 0.9


def test_densest_block_matches_reference_greedy() -> None:
    rows, cols, n_rows, n_cols, _ = random_graph_with_block(
        3000, 0, block_rows=30, block_cols=10, block_density=0.7
    )
    ref_rows, _ref_cols, ref_score = fraudar_reference(rows, cols, n_rows, n_cols)
    matrix = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_rows, n_cols))
    row_mask, _col_mask, score = densest_block(matrix, weight_offset=5.0, eps=0.05, max_drop_share=0.05)
    found = set(np.flatnonzero(row_mask).tolist())
    assert len(found & ref_rows) / len(found | ref_rows) >= 0.8
    assert score >= 0.97 * ref_score


def test_fraudar_reference_finds_planted_block_on_uniform_background() -> None:
    rng = np.random.default_rng(13)
    rows = rng.integers(0, 400, 1500)
    cols = rng.integers(0, 200, 1500)
    block_rows, block_cols = np.nonzero(rng.random((25, 8)) < 0.9)
    rows = np.concatenate([rows, 400 + block_rows])
    cols = np.concatenate([cols, 200 + block_cols])
    found_rows, found_cols, score = fraudar_reference(rows, cols, 425, 208)
    assert set(range(400, 425)) <= found_rows
    assert set(range(200, 208)) <= found_cols
    assert score > 0


def _audiences_that_never_meet(rng: np.random.Generator, n_audiences: int = 8) -> pd.DataFrame:
    """Audiences with their own 2,500 users and 60 creators (2 posts each) that never meet."""
    frames = []
    n_users, n_posts, n_edges = 2500, 120, 12000
    popularity = 1.0 / np.arange(1, n_posts + 1) ** 0.9
    for audience in range(n_audiences):
        activity = rng.lognormal(0.0, 1.0, n_users)
        users = rng.choice(n_users, n_edges, p=activity / activity.sum())
        posts = rng.permutation(n_posts)[rng.choice(n_posts, n_edges, p=popularity / popularity.sum())]
        frame = pd.DataFrame(
            {
                "user_id": [f"a{audience}u{u}" for u in users],
                "post_id": [f"a{audience}p{p}" for p in posts],
                "creator_id": [f"a{audience}c{p // 2}" for p in posts],
                "action": "like",
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_dense_blocks_measure_a_block_inside_one_audience_against_that_audience() -> None:
    """Eight audiences that never meet: each is far denser than one well-mixed platform; not a block."""
    from detectors.audiences import AudienceParams, find_audiences

    rng = np.random.default_rng(1)
    events = _audiences_that_never_meet(rng)
    assert (dense_blocks(events, params=PARAMS).event_group >= 0).sum() > 5000  # one mixed audience
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    assert audiences.n_communities == 8
    assert (dense_blocks(events, params=PARAMS, audiences=audiences).event_group >= 0).sum() == 0
    # a farm inside one audience is still measured beyond that audience's own chance
    accounts = np.arange(9000, 9060)
    farm = _farm(rng, accounts, np.array([c * 2 + k for c in (3, 17, 29, 41, 48, 55) for k in range(2)]))
    # in audience 0: its posts a0p<n> of creators a0c<n // 2>
    farm = farm.assign(
        post_id="a0" + farm["post_id"],
        creator_id=["a0c" + str(int(p[1:]) // 2) for p in farm["post_id"]],
    )
    events = pd.concat([events, farm])
    events = events.reset_index(drop=True)
    detection = dense_blocks(
        events, params=PARAMS, audiences=find_audiences(events, studios=None, params=AudienceParams())
    )
    assert len(detection.groups) == 1
    flagged = _flagged_users(events, detection, 0)
    assert len(flagged & _farm_users(accounts)) >= 0.9 * accounts.size
    assert len(flagged - _farm_users(accounts)) <= 3
