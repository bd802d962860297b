"""The honest world: campaigns, creators, posts and the shared pool of users.

Every component draws engaging users, timing and comments through ``World``,
so households, carrier NAT (see people.py) and the diurnal clock are shared
by honest traffic and by the sellers who imitate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import COMMENT, DAY_US, NS_NAT_IP, PLATFORMS, AccountBlock, draw_groups
from training.simulator.clock import ActivityClock, build_clock, organic_delay_h
from training.simulator.ids import Strings, decimal_strings, namespaced, permuted
from training.simulator.people import People, draw_people
from training.simulator.text import PRODUCTS, TextBank, build_text_bank

# 2025-03-03 00:00 China time, in UTC microseconds.
FIRST_WINDOW_START_US = int(np.datetime64("2025-03-03T00:00:00", "us").astype(np.int64)) - 8 * 3600 * 10**6
WINDOW_DAYS = 14
PUBLISH_DAYS = 11
# multi-week worlds: every platform has new clients each week, a week-long campaign each
MULTI_WEEKS = 4
MULTI_WEEK_DAYS = 7
MIN_CREATORS = 30
CREATORS_PER_SCALE = 210
ORGANIC_EVENTS_PER_SCALE = 78_000
PLATFORM_REACH = np.array([1.3, 1.0, 0.8, 0.7])
PLATFORM_SPEED_H = np.array([0.7, 0.9, 1.6, 1.2])  # xiaohongshu lives longer (search)
MOBILE_IP_SHARE = 0.12
COMMUNITY_LEAK = 0.02  # share of a community's engagements drawn from the whole platform

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class World:
    """Campaigns, creators, posts and honest accounts (creators first, then the pool)."""

    campaign_platform: I64
    campaign_start_us: I64
    campaign_end_us: I64
    campaign_prices: F64  # (n_campaigns, 4): like, favorite, comment, share
    creator_id: npt.NDArray[np.str_]
    creator_campaign: I64
    creator_platform: I64
    creator_studio: I64  # -1 when independent
    post_creator: I64
    post_campaign: I64
    post_platform: I64
    post_published_us: I64
    post_base_n: I64
    post_fast_h: F64
    post_slow_h: F64
    post_fast_share: F64
    post_engagement_rate: F64
    accounts: AccountBlock  # WORLD_BLOCK: creators 0..n_creators-1, then pool users
    account_platform: I64
    account_weight: F64
    account_device: I64
    account_ip: I64
    nat_ips: I64
    platform_members: tuple[I64, ...]  # world-local accounts of each platform
    platform_cum_weight: tuple[F64, ...]  # their cumulative activity weight
    n_communities: int  # audiences per platform that rarely meet (1: one mixed audience)
    account_community: I64  # each world account's audience community
    audience_members: tuple[I64, ...]  # accounts of (platform, community) at platform * k + community
    audience_cum_weight: tuple[F64, ...]
    clock: ActivityClock
    texts: TextBank
    user_id_key: np.uint64

    @property
    def n_creators(self) -> int:
        return len(self.creator_id)

    @property
    def n_posts(self) -> int:
        return len(self.post_creator)

    def campaign_end_of_post(self, post: I64) -> I64:
        """Return the window end of each post's campaign."""
        return self.campaign_end_us[self.post_campaign[post]]

    def sample_users(self, rng: np.random.Generator, platform: I64, community: I64) -> I64:
        """Return world-local accounts drawn by activity weight on each platform.

        With several communities a user comes from the given audience
        community, except a small share drawn from the whole platform.
        """
        if self.n_communities == 1:
            return _draw_members(rng, platform, self.platform_members, self.platform_cum_weight)
        leak = rng.random(len(platform)) < COMMUNITY_LEAK
        group = platform * self.n_communities + community
        users = _draw_members(rng, group, self.audience_members, self.audience_cum_weight)
        users[leak] = _draw_members(rng, platform[leak], self.platform_members, self.platform_cum_weight)
        return users

    def creator_community(self, creator: I64) -> I64:
        """Return the audience community of each creator (creators are world accounts)."""
        return self.account_community[creator]

    def organic_times_us(self, rng: np.random.Generator, post: int, n: int) -> F64:
        """Return ``n`` engagement times on ``post`` following its organic timing."""
        delay_h = organic_delay_h(
            rng,
            fast_h=np.full(n, self.post_fast_h[post]),
            slow_h=np.full(n, self.post_slow_h[post]),
            fast_share=np.full(n, self.post_fast_share[post]),
        )
        return self.clock.after(np.full(n, self.post_published_us[post]), delay_h)

    def honest_comments(self, rng: np.random.Generator, post: I64, action: npt.NDArray[np.int8]) -> I64:
        """Return comment codes (-1 for non-comments) written in an ordinary voice."""
        comment = np.full(len(post), -1, dtype=np.int64)
        is_comment = action == COMMENT
        comment[is_comment] = self.texts.honest(rng, self.post_campaign[post[is_comment]])
        return comment

    def event_ips(self, rng: np.random.Generator, account: I64) -> I64:
        """Return each engagement's ip: the home ip, sometimes a mobile carrier ip."""
        mobile = rng.random(len(account)) < MOBILE_IP_SHARE
        return np.where(mobile, self.mobile_ips(rng, account), self.account_ip[account])

    def mobile_ips(self, rng: np.random.Generator, account: I64) -> I64:
        """Return a mobile-network ip per entry (a carrier NAT address when NAT exists)."""
        if len(self.nat_ips):
            return self.nat_ips[rng.integers(0, len(self.nat_ips), size=len(account))]
        return namespaced(NS_NAT_IP, account + (1 << 32))


def _draw_members(
    rng: np.random.Generator, group: I64, members_of: tuple[I64, ...], cum_of: tuple[F64, ...]
) -> I64:
    """Return one member per entry of ``group``, drawn by activity weight within the group."""
    users = np.zeros(len(group), dtype=np.int64)
    for g, (members, cum) in enumerate(zip(members_of, cum_of, strict=True)):
        mask = group == g
        if not mask.any() or len(members) == 0:
            continue
        pick = np.searchsorted(cum, rng.random(int(mask.sum())) * cum[-1], side="right")
        users[mask] = members[np.minimum(pick, len(members) - 1)]
    return users


def audience_tables(
    platform: I64, community: I64, weight: F64, n_communities: int
) -> tuple[tuple[I64, ...], tuple[F64, ...]]:
    """Return the accounts of each (platform, community) and their cumulative activity weight."""
    group = platform * n_communities + community
    members = tuple(np.flatnonzero(group == g) for g in range(len(PLATFORMS) * n_communities))
    return members, tuple(np.cumsum(weight[m]) for m in members)


def build_world(
    rng: np.random.Generator,
    *,
    scale: float,
    households: bool,
    carrier_nat: bool,
    id_key: np.uint64,
    multi_week: bool = False,
) -> World:
    """Return the honest world of a simulated set at ``scale``.

    ``multi_week``: ``MULTI_WEEKS`` consecutive weeks, each with one week-long
    campaign per platform (new clients every week), instead of 14-day campaigns
    spread over the months.
    """
    campaigns = (
        _weekly_campaigns(rng, MULTI_WEEKS)
        if multi_week
        else _draw_campaigns(rng, max(4, round(8 * np.sqrt(scale))))
    )
    clock = build_clock(start_us=int(campaigns.start_us.min()), end_us=int(campaigns.end_us.max()))
    n_creators = max(MIN_CREATORS, round(CREATORS_PER_SCALE * scale))
    creator_campaign = _creator_campaigns(rng, n_creators, len(campaigns.platform))
    creator_platform = campaigns.platform[creator_campaign]
    creator_number = permuted(np.arange(n_creators), bits=18, key=id_key ^ np.uint64(0xC1))
    creator_id = decimal_strings("c", creator_number, width=6)
    studio = _studios(rng, n_creators)
    posts = _draw_posts(rng, clock, creator_campaign, creator_platform, campaigns, scale)
    people = draw_people(
        rng,
        creator_platform,
        creator_id,
        posts.platform,
        posts.base_n,
        households=households,
        carrier_nat=carrier_nat,
        id_key=id_key,
    )
    creators = _Creators(creator_id, creator_campaign, creator_platform, studio)
    return _honest_world(rng, campaigns, clock, creators, posts, people, id_key=id_key)


@dataclass(frozen=True)
class _Creators:
    id: Strings
    campaign: I64
    platform: I64
    studio: I64


def _honest_world(
    rng: np.random.Generator,
    campaigns: _Campaigns,
    clock: ActivityClock,
    creators: _Creators,
    posts: _Posts,
    people: People,
    *,
    id_key: np.uint64,
) -> World:
    """The ``World`` of drawn campaigns, creators, posts and people: one audience per platform."""
    platform_members, platform_cum_weight = audience_tables(
        people.platform, np.zeros(len(people.platform), dtype=np.int64), people.weight, 1
    )
    return World(
        campaign_platform=campaigns.platform,
        campaign_start_us=campaigns.start_us,
        campaign_end_us=campaigns.end_us,
        campaign_prices=campaigns.prices,
        creator_id=creators.id,
        creator_campaign=creators.campaign,
        creator_platform=creators.platform,
        creator_studio=creators.studio,
        post_creator=posts.creator,
        post_campaign=creators.campaign[posts.creator],
        post_platform=posts.platform,
        post_published_us=posts.published_us,
        post_base_n=posts.base_n,
        post_fast_h=posts.fast_h,
        post_slow_h=posts.slow_h,
        post_fast_share=posts.fast_share,
        post_engagement_rate=posts.engagement_rate,
        accounts=people.accounts,
        account_platform=people.platform,
        account_weight=people.weight,
        account_device=people.device,
        account_ip=people.ip,
        nat_ips=people.nat_ips,
        platform_members=platform_members,
        platform_cum_weight=platform_cum_weight,
        n_communities=1,
        account_community=np.zeros(len(people.platform), dtype=np.int64),
        audience_members=platform_members,
        audience_cum_weight=platform_cum_weight,
        clock=clock,
        texts=build_text_bank(rng, campaigns.products),
        user_id_key=id_key,
    )


@dataclass(frozen=True)
class _Campaigns:
    platform: I64
    start_us: I64
    end_us: I64
    prices: F64
    products: list[str]


def _draw_campaigns(rng: np.random.Generator, n_campaigns: int) -> _Campaigns:
    """Return campaigns on all four platforms, 14-day windows starting at China midnight."""
    platform = np.concatenate(
        [
            rng.permutation(4),
            rng.choice(4, size=n_campaigns - 4, p=[0.35, 0.25, 0.25, 0.15]),
        ]
    ).astype(np.int64)
    span_days = min(120, 6 * n_campaigns)
    offset_days = np.sort(rng.integers(0, span_days, size=n_campaigns))
    start = FIRST_WINDOW_START_US + offset_days.astype(np.int64) * DAY_US
    prices, products = _terms(rng, n_campaigns)
    return _Campaigns(platform, start, start + WINDOW_DAYS * DAY_US, prices, products)


def _weekly_campaigns(rng: np.random.Generator, n_weeks: int) -> _Campaigns:
    """Return one campaign per platform and week, each a week long, weeks back to back."""
    n_campaigns = n_weeks * len(PLATFORMS)
    platform = np.tile(np.arange(len(PLATFORMS), dtype=np.int64), n_weeks)
    start = FIRST_WINDOW_START_US + np.repeat(np.arange(n_weeks, dtype=np.int64), len(PLATFORMS)) * (
        MULTI_WEEK_DAYS * DAY_US
    )
    prices, products = _terms(rng, n_campaigns)
    return _Campaigns(platform, start, start + MULTI_WEEK_DAYS * DAY_US, prices, products)


def _terms(rng: np.random.Generator, n_campaigns: int) -> tuple[F64, list[str]]:
    """Return each campaign's unit prices (like, favorite, comment, share) and product."""
    price_ranges = [(0.05, 0.3), (0.1, 0.5), (0.3, 1.5), (0.5, 2.0)]
    prices = np.column_stack([rng.uniform(lo, hi, n_campaigns) for lo, hi in price_ranges])
    products = [PRODUCTS[i] for i in rng.integers(0, len(PRODUCTS), size=n_campaigns)]
    return np.round(prices, 2), products


def _creator_campaigns(rng: np.random.Generator, n_creators: int, n_campaigns: int) -> I64:
    """Return each creator's campaign: at least 3 creators per campaign."""
    sizes = rng.uniform(0.6, 1.4, n_campaigns)
    per_campaign = 3 + rng.multinomial(n_creators - 3 * n_campaigns, sizes / sizes.sum())
    return np.repeat(np.arange(n_campaigns, dtype=np.int64), per_campaign)


def _studios(rng: np.random.Generator, n_creators: int) -> I64:
    """Return a studio number per creator (-1 for independents), studios of 2-10."""
    members, leaders = draw_groups(rng, n_creators, share=0.4, sizes=(2, 10))
    studio = np.full(n_creators, -1, dtype=np.int64)
    studio[members] = leaders
    return studio


@dataclass(frozen=True)
class _Posts:
    creator: I64
    platform: I64
    published_us: I64
    base_n: I64
    fast_h: F64
    slow_h: F64
    fast_share: F64
    engagement_rate: F64


def _draw_posts(
    rng: np.random.Generator,
    clock: ActivityClock,
    creator_campaign: I64,
    creator_platform: I64,
    campaigns: _Campaigns,
    scale: float,
) -> _Posts:
    """Return 1-4 posts per creator with heavy-tailed reach and their timing profile."""
    n_creators = len(creator_campaign)
    n_posts = rng.choice([1, 2, 3, 4], size=n_creators, p=[0.3, 0.3, 0.25, 0.15])
    creator = np.repeat(np.arange(n_creators, dtype=np.int64), n_posts)
    platform = creator_platform[creator]
    start = campaigns.start_us[creator_campaign[creator]]
    # Creators publish at human hours: uniform in activity time, not clock time.
    a0 = clock.to_activity(start)
    # 14-day campaigns publish in their first 11 days; week-long ones in their first 5
    end = campaigns.end_us[creator_campaign[creator]]
    a1 = clock.to_activity(np.minimum(start + PUBLISH_DAYS * DAY_US, end - 2 * DAY_US))
    published = np.rint(clock.from_activity(rng.uniform(a0, a1))).astype(np.int64)
    published = np.maximum(published, start + 600 * 10**6)
    reach = np.exp(rng.normal(0.0, 1.2, n_creators))[creator]
    raw = reach * np.exp(rng.normal(0.0, 0.5, len(creator))) * PLATFORM_REACH[platform]
    expected = raw / raw.sum() * ORGANIC_EVENTS_PER_SCALE * max(scale, 0.05)
    speed = PLATFORM_SPEED_H[platform]
    rate = np.clip(np.exp(rng.normal(np.log(0.06), 0.5, len(creator))), 0.01, 0.4)
    return _Posts(
        creator=creator,
        platform=platform,
        published_us=published,
        base_n=np.maximum(rng.poisson(expected), 3).astype(np.int64),
        fast_h=rng.uniform(1.0, 5.0, len(creator)) * speed,
        slow_h=rng.uniform(12.0, 40.0, len(creator)) * speed,
        fast_share=rng.uniform(0.45, 0.75, len(creator)),
        engagement_rate=rate,
    )
