"""Accounts: the honest pool (households, carrier NAT) and ids of every account."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    NS_CREATOR_DEVICE,
    NS_CREATOR_IP,
    NS_HOME_DEVICE,
    NS_HOME_IP,
    NS_NAT_IP,
    PLATFORMS,
    WORLD_BLOCK,
    AccountBlock,
    draw_groups,
    honest_age_days,
    honest_followers,
)
from training.simulator.ids import decimal_strings, namespaced, permuted

USER_ID_BITS = 26
POOL_USERS_PER_EVENT = 0.6
MIN_POOL_USERS = 2_000
NAT_SHARE = 0.35
USERS_PER_NAT_IP = 300
HOUSEHOLD_SHARE = 0.04

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class People:
    """Honest accounts: creators first, then the pool, with platform and activity."""

    accounts: AccountBlock
    platform: I64
    weight: F64
    device: I64
    ip: I64
    nat_ips: I64


def draw_people(
    rng: np.random.Generator,
    creator_platform: I64,
    creator_id: npt.NDArray[np.str_],
    post_platform: I64,
    post_base_n: I64,
    *,
    households: bool,
    carrier_nat: bool,
    id_key: np.uint64,
) -> People:
    """Return the world's accounts (creators, then the pool) with platform and activity."""
    n_creators = len(creator_platform)
    per_platform = np.bincount(post_platform, weights=post_base_n, minlength=len(PLATFORMS))
    pool_sizes = np.where(
        per_platform > 0,
        np.maximum(np.rint(per_platform * POOL_USERS_PER_EVENT), MIN_POOL_USERS),
        0,
    ).astype(np.int64)
    pool_platform = np.repeat(np.arange(len(PLATFORMS), dtype=np.int64), pool_sizes)
    n_pool = len(pool_platform)
    pool_user = decimal_strings("u", user_numbers(WORLD_BLOCK, np.arange(n_pool), id_key), width=8)
    creator_age = np.exp(rng.normal(np.log(1100.0), 0.5, n_creators))
    accounts = AccountBlock(
        user_id=np.concatenate([creator_id, pool_user]),
        age_days=np.concatenate([np.clip(creator_age, 200.0, 4200.0), honest_age_days(rng, n_pool)]),
        followers=np.concatenate(
            [
                honest_followers(rng, n_creators, median=6000.0),
                honest_followers(rng, n_pool),
            ]
        ),
    )
    # Heavy-tailed activity; creators are keen users of their own platform.
    weight = np.minimum(1.0 + rng.pareto(1.3, n_creators + n_pool), 100.0)
    weight[:n_creators] *= 3.0
    device, ip, nat_ips = _home_networks(rng, n_pool, households=households, carrier_nat=carrier_nat)
    return People(
        accounts=accounts,
        platform=np.concatenate([creator_platform, pool_platform]),
        weight=weight,
        device=np.concatenate([namespaced(NS_CREATOR_DEVICE, np.arange(n_creators)), device]),
        ip=np.concatenate([namespaced(NS_CREATOR_IP, np.arange(n_creators)), ip]),
        nat_ips=nat_ips,
    )


def _home_networks(
    rng: np.random.Generator, n_pool: int, *, households: bool, carrier_nat: bool
) -> tuple[I64, I64, I64]:
    """Return pool users' device and home ip keys, and the carrier NAT ip keys.

    About 35% of users sit behind a carrier NAT address shared by hundreds of
    unrelated people; ~4% live in households of 2-4 sharing a phone and an ip.
    """
    device = namespaced(NS_HOME_DEVICE, np.arange(n_pool))
    ip = namespaced(NS_HOME_IP, np.arange(n_pool))
    nat_ips = np.empty(0, dtype=np.int64)
    if carrier_nat:
        behind_nat = np.flatnonzero(rng.random(n_pool) < NAT_SHARE)
        n_nat = max(1, round(len(behind_nat) / USERS_PER_NAT_IP))
        nat_ips = namespaced(NS_NAT_IP, np.arange(n_nat))
        nat_weight = np.exp(rng.normal(0.0, 0.6, n_nat))
        nat_of_user = rng.choice(n_nat, size=len(behind_nat), p=nat_weight / nat_weight.sum())
        ip[behind_nat] = nat_ips[nat_of_user]
    if households:
        device, ip = _households(rng, device, ip)
    return device, ip, nat_ips


def _households(rng: np.random.Generator, device: I64, ip: I64) -> tuple[I64, I64]:
    """Return device and ip with ~4% of users in households of 2-4 sharing both."""
    members, leaders = draw_groups(rng, len(device), share=HOUSEHOLD_SHARE, sizes=(2, 4))
    device, ip = device.copy(), ip.copy()
    device[members] = device[leaders]
    ip[members] = ip[leaders]
    return device, ip


def user_numbers(block: int, local: npt.NDArray[np.integer], key: np.uint64) -> npt.NDArray[np.uint64]:
    """Return pseudo-random user numbers, unique across blocks (honest block 0 first)."""
    base = 0 if block == WORLD_BLOCK else (1 << 25) + (block - 1) * (1 << 21)
    return permuted(local.astype(np.int64) + base, bits=USER_ID_BITS, key=key)


def scheme_accounts(block: int, *, age_days: list[F64], followers: list[I64], key: np.uint64) -> AccountBlock:
    """Return a scheme's account block from per-seller ages and follower counts."""
    age = np.concatenate(age_days) if age_days else np.empty(0)
    local = np.arange(len(age), dtype=np.int64)
    return AccountBlock(
        user_id=decimal_strings("u", user_numbers(block, local, key), width=8),
        age_days=age,
        followers=np.concatenate(followers) if followers else np.empty(0, np.int64),
    )
