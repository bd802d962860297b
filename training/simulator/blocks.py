"""Column blocks the simulator components exchange before the frames are built."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from training.simulator.ids import namespaced

ACTIONS = ("like", "favorite", "comment", "share", "view", "follow")
LIKE, FAVORITE, COMMENT, SHARE, VIEW, FOLLOW = range(len(ACTIONS))
PLATFORMS = ("douyin", "kuaishou", "xiaohongshu", "channels")

SCHEMES = (
    "organic",
    "bot_lockstep",
    "bot_camouflage",
    "click_farm",
    "ring",
    "drip_feed",
    "aged_accounts",
    "replay",
)
ORGANIC, LOCKSTEP, CAMOUFLAGE, CLICK_FARM, RING, DRIP_FEED, AGED, REPLAY = range(len(SCHEMES))

# Account blocks: an engaging account is referenced as ``block << 32 | local``.
WORLD_BLOCK, BOT_BLOCK, CLICK_BLOCK, RING_BLOCK, DRIP_BLOCK, AGED_BLOCK = range(6)
ACCOUNT_SHIFT = 32

# Namespaces of device, ip and event keys (see ids.namespaced).
NS_HOME_DEVICE, NS_HOME_IP, NS_NAT_IP, NS_CREATOR_DEVICE, NS_CREATOR_IP = 1, 2, 3, 4, 5
NS_BOT_DEVICE, NS_DATACENTER_IP, NS_CLICK_DEVICE, NS_CLICK_IP = 6, 7, 8, 9
NS_RING_DEVICE, NS_DRIP_DEVICE, NS_DRIP_IP, NS_AGED_DEVICE, NS_PROXY_IP = (
    10,
    11,
    12,
    13,
    14,
)
NS_EVENT_BASE = 32  # + component number

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AccountBlock:
    """Engaging accounts of one block: ids, age at first engagement, followers."""

    user_id: npt.NDArray[np.str_]
    age_days: F64
    followers: I64

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class EventBlock:
    """Engagements of one component, one entry per event (all arrays aligned)."""

    key: I64
    post: I64
    account: I64
    action: npt.NDArray[np.int8]
    ts_us: I64
    device: I64
    ip: I64
    comment: I64
    scheme: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.key)

    def take(self, index: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> EventBlock:
        """Return the events selected by an index or mask."""
        return EventBlock(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def account_refs(block: int, local: npt.NDArray[np.integer]) -> I64:
    """Return account references ``block << 32 | local``."""
    return (np.int64(block) << np.int64(ACCOUNT_SHIFT)) | local.astype(np.int64)


def make_events(
    *,
    component: int,
    post: npt.NDArray[np.integer],
    account: I64,
    action: npt.NDArray[np.integer],
    ts_us: npt.NDArray[np.integer] | F64,
    device: I64,
    ip: I64,
    comment: I64 | None = None,
    scheme: int,
) -> EventBlock:
    """Return an event block whose keys are ``component``'s namespace + position."""
    n = len(post)
    return EventBlock(
        key=namespaced(NS_EVENT_BASE + component, np.arange(n)),
        post=post.astype(np.int64),
        account=account.astype(np.int64),
        action=action.astype(np.int8),
        ts_us=np.rint(ts_us).astype(np.int64),
        device=device.astype(np.int64),
        ip=ip.astype(np.int64),
        comment=np.full(n, -1, np.int64) if comment is None else comment.astype(np.int64),
        scheme=np.full(n, scheme, np.int8),
    )


def with_component(events: EventBlock, component: int) -> EventBlock:
    """Return the events re-keyed in ``component``'s namespace by position."""
    key = namespaced(NS_EVENT_BASE + component, np.arange(len(events)))
    return EventBlock(**{**{f.name: getattr(events, f.name) for f in fields(events)}, "key": key})


def concat_events(blocks: list[EventBlock]) -> EventBlock:
    """Return the blocks concatenated in order."""
    if not blocks:
        return make_events(
            component=0,
            post=np.empty(0, np.int64),
            account=np.empty(0, np.int64),
            action=np.empty(0, np.int8),
            ts_us=np.empty(0, np.int64),
            device=np.empty(0, np.int64),
            ip=np.empty(0, np.int64),
            scheme=ORGANIC,
        )
    return EventBlock(
        **{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(EventBlock)}
    )


def draw_actions(
    rng: np.random.Generator,
    n: int,
    probabilities: tuple[float, ...] | npt.NDArray[np.float64],
) -> npt.NDArray[np.int8]:
    """Return ``n`` action codes drawn with the given probabilities (like first)."""
    p = np.asarray(probabilities, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int8)


def loguniform_int(rng: np.random.Generator, low: float, high: float, size: int | None = None) -> I64:
    """Return integers log-uniformly distributed in [low, high]."""
    draws = np.exp(rng.uniform(np.log(low), np.log(high), size=size))
    return np.rint(np.atleast_1d(draws)).astype(np.int64)


def draw_groups(rng: np.random.Generator, n: int, *, share: float, sizes: tuple[int, int]) -> tuple[I64, I64]:
    """Return (members, leaders): ``share`` of ``n`` items grouped by sizes in [low, high].

    Each member's leader is the first member of its group, so copying the
    leader's value to its members makes the group share that value.
    """
    members = rng.permutation(n)[: int(share * n)]
    cuts = np.cumsum(rng.integers(sizes[0], sizes[1] + 1, size=max(1, len(members))))
    cuts = cuts[cuts <= len(members)]
    if not len(cuts):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    members = members[: int(cuts[-1])]
    starts = np.concatenate([[0], cuts[:-1]]).astype(np.int64)
    group = np.searchsorted(cuts, np.arange(len(members)), side="right")
    return members.astype(np.int64), members[starts][group].astype(np.int64)


def honest_followers(rng: np.random.Generator, n: int, *, median: float = 40.0) -> I64:
    """Return heavy-tailed follower counts of ordinary accounts."""
    followers = np.floor(np.exp(rng.normal(np.log(median), 1.6, size=n)))
    few = rng.random(n) < 0.08
    followers[few] = rng.integers(0, 6, size=int(few.sum()))
    return np.minimum(followers, 2_000_000).astype(np.int64)


def honest_age_days(rng: np.random.Generator, n: int, *, new_share: float = 0.04) -> F64:
    """Return account ages at first engagement: mostly months-years, a few new."""
    age = np.clip(np.exp(rng.normal(np.log(800.0), 0.65, size=n)), 90.0, 4_200.0)
    new = rng.random(n) < new_share
    age[new] = rng.uniform(0.5, 45.0, size=int(new.sum()))
    return age
