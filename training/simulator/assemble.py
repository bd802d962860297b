"""From event blocks to the contract frames and the ground truth."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from features.schema import EVENT_OPTIONAL, EVENT_REQUIRED
from training.simulator.blocks import (
    ACCOUNT_SHIFT,
    ACTIONS,
    AGED,
    CLICK_FARM,
    DAY_US,
    DRIP_FEED,
    LOCKSTEP,
    ORGANIC,
    PLATFORMS,
    RING,
    SCHEMES,
    WORLD_BLOCK,
    AccountBlock,
    EventBlock,
    concat_events,
)
from training.simulator.config import SimConfig, SimulatedSet
from training.simulator.ids import (
    decimal_strings,
    hashed_uniform,
    hex_strings,
    mix64,
    permuted,
)
from training.simulator.market import Market
from training.simulator.replay import Replays
from training.simulator.world import World

EVENT_COLUMNS = (*EVENT_REQUIRED, *EVENT_OPTIONAL)
PAID_ACTIONS = 4  # action codes below this are paid
ACCOUNT_LOCAL_BITS = 26  # world pool stays below 2**26 accounts up to MAX_SCALE
NULL_SHARE = {"device": 0.02, "ip": 0.02, "created": 0.02, "followers": 0.01}

I64 = npt.NDArray[np.int64]


def clean_events(world: World, events: EventBlock) -> EventBlock:
    """Return events inside their post's life and campaign window, one per (post, user, action)."""
    published = world.post_published_us[events.post]
    inside = (events.ts_us >= published) & (events.ts_us < world.campaign_end_of_post(events.post))
    events = events.take(inside)
    engagement = _engagement_keys(events)
    order = np.lexsort((events.key, events.ts_us, engagement))
    engagement = engagement[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = engagement[1:] == engagement[:-1]
    return events.take(np.sort(order[~repeat]))


def _engagement_keys(events: EventBlock) -> I64:
    """Return one int64 per (post, account, action): post | block | local account | action."""
    block = events.account >> ACCOUNT_SHIFT
    local = events.account & ((1 << ACCOUNT_SHIFT) - 1)
    account = (block << ACCOUNT_LOCAL_BITS) | local
    return (events.post << 32) | (account << 3) | events.action.astype(np.int64)


def assemble(
    world: World,
    market: Market,
    events: EventBlock,
    accounts: dict[int, AccountBlock],
    replays: Replays | None,
    *,
    config: SimConfig,
    rng: np.random.Generator,
    id_key: np.uint64,
) -> SimulatedSet:
    """Return the simulated set: contract frames plus per-event and per-creator truth."""
    originals = events if replays is None else concat_events([events, replays.recounts])
    copies = events.take(np.empty(0, np.int64)) if replays is None else replays.copies
    rows = concat_events([originals, copies])
    sent_us = np.concatenate([originals.ts_us, copies.ts_us if replays is None else replays.copies_sent_us])
    order = np.lexsort((rows.key, sent_us))
    rows = rows.take(order)
    is_copy = order >= len(originals)

    events_frame = _events_frame(world, rows, accounts, missing_values=config.missing_values, id_key=id_key)
    truth_events = _truth_events(events_frame["event_id"], rows.scheme, is_copy, rows.key)
    first = rows.take(~is_copy)
    return SimulatedSet(
        events=events_frame,
        posts=_posts_frame(world, first, rng, id_key=id_key),
        campaigns=_campaigns_frame(world),
        truth_events=truth_events,
        truth_creators=_truth_creators(world, market, config),
        truth_audiences=_truth_audiences(world, accounts),
    )


def _events_frame(
    world: World,
    rows: EventBlock,
    accounts: dict[int, AccountBlock],
    *,
    missing_values: bool,
    id_key: np.uint64,
) -> pd.DataFrame:
    """Return the contract's events frame, one row per entry of ``rows``."""
    blocks = [accounts.get(b) for b in range(max(accounts) + 1)]
    sizes = np.array([0 if b is None else len(b) for b in blocks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    account = offsets[rows.account >> ACCOUNT_SHIFT] + (rows.account & ((1 << ACCOUNT_SHIFT) - 1))
    user_id = np.concatenate([b.user_id for b in blocks if b is not None])
    age_us = np.rint(np.concatenate([b.age_days for b in blocks if b is not None]) * DAY_US).astype(np.int64)
    followers = np.concatenate([b.followers for b in blocks if b is not None])
    first_us = np.full(len(user_id), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_us, account, rows.ts_us)
    created_us = first_us - age_us

    null = _null_masks(rows, missing_values=missing_values, id_key=id_key)
    device_codes, device_table = _hashed_table(rows.device, id_key=id_key ^ np.uint64(0xDE), n_chars=16)
    ip_codes, ip_table = _hashed_table(rows.ip, id_key=id_key ^ np.uint64(0x1B), n_chars=12)
    creator = world.post_creator[rows.post]
    return pd.DataFrame(
        {
            "event_id": _strings(hex_strings(rows.key, key=id_key ^ np.uint64(0xE7), n_chars=16)),
            "platform": _dict_column(world.post_platform[rows.post], np.array(PLATFORMS)),
            "campaign_id": _dict_column(world.post_campaign[rows.post], campaign_ids(world)),
            "post_id": _dict_column(rows.post, post_ids(world, id_key)),
            "creator_id": _dict_column(creator, world.creator_id),
            "user_id": _dict_column(account, user_id),
            "action": _dict_column(rows.action.astype(np.int64), np.array(ACTIONS)),
            "ts": _timestamps(rows.ts_us),
            "device_id": _dict_column(device_codes, device_table, null["device"] | (rows.device < 0)),
            "ip": _dict_column(ip_codes, ip_table, null["ip"] | (rows.ip < 0)),
            "user_created_at": _timestamps(created_us[account], null["created"]),
            "user_followers": pd.arrays.IntegerArray(followers[account], null["followers"]),
            "comment_text": _dict_column(rows.comment, world.texts.texts, rows.comment < 0),
        },
        columns=list(EVENT_COLUMNS),
    )


def _null_masks(
    rows: EventBlock, *, missing_values: bool, id_key: np.uint64
) -> dict[str, npt.NDArray[np.bool_]]:
    """Return per-column null masks, a function of (post, user, action): re-sends agree."""
    if not missing_values:
        return {name: np.zeros(len(rows), dtype=bool) for name in NULL_SHARE}
    engagement = mix64(rows.account.astype(np.uint64)) ^ (rows.post.astype(np.uint64) << np.uint64(3))
    engagement = (engagement ^ rows.action.astype(np.uint64)).view(np.int64)
    return {
        name: hashed_uniform(engagement, key=id_key ^ np.uint64(salt)) < share
        for salt, (name, share) in enumerate(NULL_SHARE.items(), start=0x50)
    }


def _hashed_table(keys: I64, *, id_key: np.uint64, n_chars: int) -> tuple[I64, npt.NDArray[np.str_]]:
    """Return codes into a table of hashed hex strings for each distinct key."""
    distinct, codes = np.unique(keys, return_inverse=True)
    return codes.astype(np.int64), hex_strings(distinct, key=id_key, n_chars=n_chars)


def _dict_column(
    codes: I64, table: npt.NDArray[np.str_], null: npt.NDArray[np.bool_] | None = None
) -> pd.Series:
    """Return a string column ``table[codes]`` (null where ``null``), built through Arrow."""
    safe = np.where(codes < 0, 0, codes).astype(np.int32)
    indices = pa.array(safe, mask=null if null is not None and null.any() else None)
    dictionary = pa.array(table if len(table) else np.array([""]), type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string()).to_pandas()


def _strings(values: npt.NDArray[np.str_]) -> pd.Series:
    return pa.array(values, type=pa.string()).to_pandas()


def _timestamps(ts_us: I64, null: npt.NDArray[np.bool_] | None = None) -> pd.Series:
    values = ts_us.astype("datetime64[us]")
    if null is not None:
        values[null] = np.datetime64("NaT")
    return pd.Series(values).dt.tz_localize("UTC")


def campaign_ids(world: World) -> npt.NDArray[np.str_]:
    """Return the campaign ids in campaign order."""
    return decimal_strings("cmp", np.arange(1, len(world.campaign_platform) + 1), width=3)


def post_ids(world: World, id_key: np.uint64) -> npt.NDArray[np.str_]:
    """Return the post ids in post order."""
    return decimal_strings(
        "p",
        permuted(np.arange(world.n_posts), bits=24, key=id_key ^ np.uint64(0x9)),
        width=8,
    )


def _truth_events(
    event_id: pd.Series,
    scheme: npt.NDArray[np.int8],
    is_copy: npt.NDArray[np.bool_],
    key: I64,
) -> pd.DataFrame:
    first = ~is_copy
    copies = np.ones(int(first.sum()), dtype=np.int64)
    copied, extra = np.unique(key[is_copy], return_counts=True)
    if len(copied):
        at = np.minimum(np.searchsorted(copied, key[first]), len(copied) - 1)
        hit = copied[at] == key[first]
        copies[hit] += extra[at[hit]]
    return pd.DataFrame(
        {
            "event_id": event_id[first].reset_index(drop=True),
            "invalid": scheme[first] != ORGANIC,
            "scheme": _dict_column(scheme[first].astype(np.int64), np.array(SCHEMES)),
            "copies": copies,
        }
    )


def _posts_frame(
    world: World, events: EventBlock, rng: np.random.Generator, *, id_key: np.uint64
) -> pd.DataFrame:
    paid = events.action < PAID_ACTIONS
    honest = np.bincount(events.post[paid & (events.scheme == ORGANIC)], minlength=world.n_posts)
    inflated = np.bincount(events.post[paid & (events.scheme != ORGANIC)], minlength=world.n_posts)
    # Sellers bundle a few views with each order, fewer than a real audience would bring.
    views = np.rint(honest / world.post_engagement_rate + inflated * rng.uniform(0.3, 1.5, world.n_posts))
    studio = world.creator_studio[world.post_creator]
    studio_table = decimal_strings(
        "s", permuted(np.arange(max(1, studio.max() + 1)), bits=20, key=id_key), width=7
    )
    return pd.DataFrame(
        {
            "post_id": _strings(post_ids(world, id_key)),
            "creator_id": _dict_column(world.post_creator, world.creator_id),
            "campaign_id": _dict_column(world.post_campaign, campaign_ids(world)),
            "platform": _dict_column(world.post_platform, np.array(PLATFORMS)),
            "published_at": _timestamps(world.post_published_us),
            "views": pd.array(views.astype(np.int64), dtype="Int64"),
            "studio_id": _dict_column(studio, studio_table, studio < 0),
        }
    )


def _campaigns_frame(world: World) -> pd.DataFrame:
    prices = world.campaign_prices
    return pd.DataFrame(
        {
            "campaign_id": _strings(campaign_ids(world)),
            "currency": _strings(np.full(len(prices), "CNY")),
            "price_like": prices[:, 0],
            "price_favorite": prices[:, 1],
            "price_comment": prices[:, 2],
            "price_share": prices[:, 3],
            "window_start": _timestamps(world.campaign_start_us),
            "window_end": _timestamps(world.campaign_end_us),
        }
    )


def _truth_audiences(world: World, accounts: dict[int, AccountBlock]) -> pd.DataFrame:
    """Return each honest account's platform and audience community (empty with one community)."""
    keep = np.arange(len(world.account_platform) if world.n_communities > 1 else 0)
    return pd.DataFrame(
        {
            "user_id": _strings(accounts[WORLD_BLOCK].user_id[keep]),
            "platform": _dict_column(world.account_platform[keep], np.array(PLATFORMS)),
            "community": world.account_community[keep],
        }
    )


def _truth_creators(world: World, market: Market, config: SimConfig) -> pd.DataFrame:
    enabled = {
        ORGANIC: False,
        LOCKSTEP: config.bot_lockstep,
        CLICK_FARM: config.click_farm,
        RING: config.ring,
        DRIP_FEED: config.drip_feed,
        AGED: config.aged_accounts,
    }
    on = np.array([enabled.get(s, False) for s in range(len(SCHEMES))], dtype=bool)
    main = np.where(
        on[market.creator_primary],
        market.creator_primary,
        np.where(on[market.creator_secondary], market.creator_secondary, ORGANIC),
    )
    names = np.array(["", *SCHEMES[1:]])
    return pd.DataFrame(
        {
            "campaign_id": _dict_column(world.creator_campaign, campaign_ids(world)),
            "creator_id": _strings(world.creator_id),
            "bought": main != ORGANIC,
            "scheme": _dict_column(main, names),
        }
    )
