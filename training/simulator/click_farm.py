"""Click farms: workers on phones doing like+favorite+comment triples in office hours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    CLICK_BLOCK,
    CLICK_FARM,
    COMMENT,
    DAY_US,
    FAVORITE,
    HOUR_US,
    LIKE,
    MINUTE_US,
    NS_CLICK_DEVICE,
    NS_CLICK_IP,
    SECOND_US,
    AccountBlock,
    EventBlock,
    account_refs,
    concat_events,
    honest_followers,
    loguniform_int,
    make_events,
    with_component,
)
from training.simulator.clock import china_day_starts, china_weekday
from training.simulator.ids import namespaced
from training.simulator.market import Market
from training.simulator.people import scheme_accounts
from training.simulator.text import FARM_VARIANTS, N_FARM_TEMPLATES
from training.simulator.world import World

COMPONENT_CLICK = 6
OFFICE_START_H, OFFICE_END_H = 9.0, 18.0
DEVICES_PER_PERSON_MAX = 3
VARIANT_WEIGHT = (0.5, 0.15, 0.1, 0.1, 0.1, 0.05)  # most paste the template as is

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ClickFarm:
    """Workers on one platform: accounts grouped by person, each person with 1-3 phones."""

    platform: int
    local: I64  # block-local account numbers
    person: I64  # global person number per account
    person_devices: I64  # phones per global person (indexed by person number)
    ips: I64  # office wifi and a few mobile addresses


def build_click_farms(
    rng: np.random.Generator, world: World, platforms: I64
) -> tuple[AccountBlock, list[ClickFarm]]:
    """Return one click farm per platform: 40-120 workers with 2-5 accounts each."""
    people = [int(rng.integers(40, 121)) for _ in platforms]
    person_devices = rng.integers(1, DEVICES_PER_PERSON_MAX + 1, sum(people))
    farms: list[ClickFarm] = []
    ages: list[F64] = []
    followers: list[I64] = []
    start = person_start = 0
    for number, (platform, n_people) in enumerate(zip(platforms, people, strict=True)):
        person = person_start + np.repeat(np.arange(n_people), rng.integers(2, 6, n_people))
        n = len(person)
        ips = namespaced(NS_CLICK_IP, number * 64 + np.arange(int(rng.integers(3, 7))))
        farms.append(ClickFarm(int(platform), np.arange(start, start + n), person, person_devices, ips))
        ages.append(np.clip(np.exp(rng.normal(np.log(300.0), 0.8, n)), 20.0, 2500.0))
        followers.append(honest_followers(rng, n, median=20.0))
        start += n
        person_start += n_people
    accounts = scheme_accounts(CLICK_BLOCK, age_days=ages, followers=followers, key=world.user_id_key)
    return accounts, farms


def click_farm_events(
    rng: np.random.Generator, world: World, market: Market, farms: list[ClickFarm]
) -> EventBlock:
    """Return office-hours orders: 30-200 workers each do like+favorite+comment in seconds."""
    by_platform = {f.platform: f for f in farms}
    parts = [
        _order(rng, world, by_platform[int(world.post_platform[post])], int(post))
        for post in market.bought_posts(CLICK_FARM)
    ]
    return with_component(concat_events(parts), COMPONENT_CLICK)


def _order(rng: np.random.Generator, world: World, farm: ClickFarm, post: int) -> EventBlock:
    """Return one order: each worker's triple within seconds, spread over a few hours."""
    n = min(int(loguniform_int(rng, 30, 200)[0]), len(farm.local))
    member = rng.choice(len(farm.local), size=n, replace=False)
    start_us, span_us = _office_slot(rng, world, post)
    t_us = start_us + rng.uniform(0.0, span_us, n)
    favorite = rng.random(n) < 0.85
    n_favorite = int(favorite.sum())
    ts_us = np.concatenate(
        [
            t_us,
            t_us[favorite] + rng.uniform(2, 12, n_favorite) * SECOND_US,
            t_us + rng.uniform(8, 45, n) * SECOND_US,
        ]
    )
    who = np.concatenate([member, member[favorite], member])
    action = np.repeat(np.array([LIKE, FAVORITE, COMMENT], np.int8), [n, n_favorite, n])
    templates = rng.choice(N_FARM_TEMPLATES, size=int(rng.integers(3, 7)), replace=False)
    comment = np.full(len(who), -1, dtype=np.int64)
    comment[action == COMMENT] = world.texts.farm(
        int(world.post_campaign[post]),
        templates[rng.integers(0, len(templates), n)],
        rng.choice(len(FARM_VARIANTS), size=n, p=VARIANT_WEIGHT),
    )
    person = farm.person[who]
    phone = rng.integers(0, DEVICES_PER_PERSON_MAX, len(who)) % farm.person_devices[person]
    session_ip = farm.ips[rng.integers(0, len(farm.ips), n)]
    return make_events(
        component=0,
        post=np.full(len(who), post),
        account=account_refs(CLICK_BLOCK, farm.local[who]),
        action=action,
        ts_us=ts_us,
        device=namespaced(NS_CLICK_DEVICE, person * DEVICES_PER_PERSON_MAX + phone),
        ip=np.concatenate([session_ip, session_ip[favorite], session_ip]),
        comment=comment,
        scheme=CLICK_FARM,
    )


def _office_slot(rng: np.random.Generator, world: World, post: int) -> tuple[float, float]:
    """Return (start, span) of an order in China office hours, on a weekday when possible."""
    published = int(world.post_published_us[post])
    end = int(world.campaign_end_us[world.post_campaign[post]])
    span_us = rng.uniform(1.0, 4.0) * HOUR_US
    ready = published + rng.uniform(10.0, 90.0) * MINUTE_US
    days = china_day_starts(published, min(end, published + 8 * DAY_US))
    earliest = np.maximum(days + OFFICE_START_H * HOUR_US, ready)
    latest = days + OFFICE_END_H * HOUR_US - span_us
    fits = (earliest <= latest) & (latest + span_us <= end)
    weekday = fits & (china_weekday(days + 12 * HOUR_US) < 5)
    candidates = np.flatnonzero(weekday) if weekday.any() else np.flatnonzero(fits)
    if len(candidates) == 0:
        return float(ready), float(min(span_us, max(end - ready, MINUTE_US)))
    day = candidates[0] if rng.random() < 0.6 else rng.choice(candidates)
    return float(rng.uniform(earliest[day], latest[day])), float(span_us)
