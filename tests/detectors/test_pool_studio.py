"""A seller's orders across one studio's creators (``pool__studio_served_units``)."""

import dataclasses

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import AudienceParams, Audiences, find_audiences, light_pairs, post_codes
from detectors.pools import PoolParams, pool_chance, seller_pools
from detectors.pools._detector import _found
from detectors.pools._search import _Light
from detectors.pools._studio import _post_creators, _Split, _studio_split, _with_studio_orders
from features.arrays import codes
from tests.detectors.test_pools import _audiences, _frame


def _studio_and_book(
    seed: int = 3, orders: tuple[str, ...] = ("a0k0", "a0k1", "a1k50", "a2k51")
) -> tuple[pd.DataFrame, pd.Series]:
    """Four audiences that never meet (``_audiences``), creators a0k0..a0k11 of the first signed by one
    studio (its users are the studio's fans, spread over their own choice of its creators and the
    audience's others), and a book of 200 light accounts sent in orders of 30-60% of it onto posts of
    ``orders``' creators: studio creators a0k0 and a0k1 and creators a1k50 and a2k51 of two other
    audiences."""
    rng = np.random.default_rng(seed)
    user, creator = [], []
    for who in orders:
        for account in rng.choice(200, size=int(rng.uniform(0.3, 0.6) * 200), replace=False):
            user.append(f"s{account}")
            creator.append(who)
    studios = pd.Series("studio-0", index=[f"p-a0k{c}" for c in range(12)])
    events = pd.concat([_audiences(n_audiences=4, users=1500), _frame(user, creator)], ignore_index=True)
    return events, studios


def test_a_books_orders_across_two_studio_creators_are_caught_and_the_studios_fans_stay_clean():
    events, studios = _studio_and_book()
    audiences = find_audiences(events, studios=studios, params=AudienceParams())
    account = events["user_id"].astype(str)
    book = account.str.startswith("s").to_numpy()
    on_studio = events["creator_id"].astype(str).isin(["a0k0", "a0k1"]).to_numpy()
    # the book's accounts whose light posts are the two studio orders: one creator unit, no cross-unit tie
    per = pd.DataFrame({"on": on_studio[book]}).groupby(account[book].to_numpy())["on"].agg(["all", "size"])
    only = per.index[per["all"].to_numpy() & (per["size"].to_numpy() == 2)]
    studio_only = account.isin(only).to_numpy() & book
    assert studio_only.sum() >= 20
    before = seller_pools(events, params=PoolParams(studio_served_units=False), audiences=audiences)
    assert (before.event_score[book & ~studio_only] >= 0.5).mean() > 0.8  # the pool is found
    assert (before.event_score[studio_only] >= 0.5).mean() < 0.1
    after = seller_pools(events, params=PoolParams(studio_served_units=True), audiences=audiences)
    assert (after.event_score[studio_only] >= 0.5).mean() > 0.9
    assert (after.event_score[book] >= 0.5).mean() >= (before.event_score[book] >= 0.5).mean()
    assert (after.event_score[~book] >= 0.5).sum() == 0


def _first_search(
    events: pd.DataFrame, studios: pd.Series, params: PoolParams
) -> tuple[_Light, Audiences, pd.Index, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]], _Split | None]:
    """As ``seller_pools`` runs it on a whole platform: the light pairs, the pool audiences, the post ids,
    the first search's events and lifts, and the studio split its pools give."""
    audiences = find_audiences(events, studios=studios, params=AudienceParams()).for_pool()
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    ok = (users >= 0) & (posts >= 0)
    pair_user, pair_post = light_pairs(
        users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts
    )
    light = _Light(users, posts, ok, pair_user, pair_post, audiences.units(post_ids))
    pooled = np.zeros(len(post_ids), dtype=bool)
    found = _found(light, audiences, params=params, chance=None, pooled=pooled)
    creators = _post_creators(events, posts, ok, len(post_ids))
    return light, audiences, post_ids, found, _studio_split(light, audiences, post_ids, creators, pooled)


def test_the_search_again_runs_only_where_a_kept_account_has_an_event_no_pool_holds():
    """Only a kept account's event that the first search left out can be added: where there is none the
    search again is skipped (it could add nothing), and where there is one it runs and adds it."""
    params = PoolParams()
    light, _, post_ids, found, split = _first_search(*_studio_and_book(), params)
    assert split is not None
    searches = []

    def search(
        again: _Light, split_audiences: Audiences
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        searches.append(again)
        return _found(again, split_audiences, params=params, chance=None)

    event_pool, _ = _with_studio_orders(light, post_ids, found, split, search)
    assert len(searches) == 1 and (event_pool >= 0).sum() > (found[0] >= 0).sum() + 20
    # the kept accounts whose every event a pool holds already: nothing to add, no search
    open_accounts = np.unique(light.users[found[0] < 0])
    keep = split.keep.copy()
    keep[open_accounts[open_accounts < len(keep)]] = False
    assert keep.sum() >= 10
    unchanged = _with_studio_orders(light, post_ids, found, dataclasses.replace(split, keep=keep), search)
    assert len(searches) == 1
    np.testing.assert_array_equal(unchanged[0], found[0])
    np.testing.assert_array_equal(unchanged[1], found[1])


def test_a_platforms_studio_split_that_keeps_no_account_is_none_and_the_model_gives_the_tests_answer():
    """Orders on one studio creator only: a search pool holds the studio's post, but no account reaches two
    of its creators on split posts, so the split keeps nobody; the platform's model carries no split
    (``PoolChance.studio`` None) and judges the platform as the test does on its own."""
    events, studios = _studio_and_book(orders=("a0k0", "a1k50", "a2k51"))
    params = PoolParams()
    split = _first_search(events, studios, params)[4]
    assert split is not None and split.posts.any() and not split.keep.any()
    audiences = find_audiences(events, studios=studios, params=AudienceParams())
    model = pool_chance(events, params=params, audiences=audiences)
    assert model is not None and model.studio is None
    own = seller_pools(events, params=params, audiences=audiences)
    given = seller_pools(events, params=params, chance=model)
    assert (own.event_group >= 0).sum() > 50
    np.testing.assert_array_equal(given.event_score, own.event_score)
    np.testing.assert_array_equal(given.event_group, own.event_group)


def test_the_split_light_keeps_what_the_units_do_not_change_and_finds_the_rest_again():
    light, _, post_ids, _, split = _first_search(*_studio_and_book(), PoolParams())
    assert split is not None
    again = split.light(light, post_ids)
    fresh = _Light(light.users, light.posts, light.ok, light.pair_user, light.pair_post, again.unit)
    assert not np.array_equal(again.unit, light.unit)
    assert again.one_off_engagers is light.one_off_engagers and again.repeats is light.repeats
    np.testing.assert_array_equal(again.one_off_engagers, fresh.one_off_engagers)
    np.testing.assert_array_equal(again.account_pairs, fresh.account_pairs)
    np.testing.assert_array_equal(
        again.repeats.repeated(light.account_pairs > 1), fresh.repeats.repeated(light.account_pairs > 1)
    )
    # what the units change is found with the split's units
    np.testing.assert_array_equal(again.creators[1], fresh.creators[1])
    assert again.creators[1].tolist() != light.creators[1].tolist()
