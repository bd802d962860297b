"""The simulator's entry points: ``simulate`` (pure) and ``write_simulated_set`` (I/O)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.simulator.aged import aged_events, build_aged_pools
from training.simulator.assemble import assemble, clean_events
from training.simulator.audiences import with_communities, with_studios
from training.simulator.blocks import (
    AGED,
    AGED_BLOCK,
    BOT_BLOCK,
    CLICK_BLOCK,
    CLICK_FARM,
    DRIP_BLOCK,
    DRIP_FEED,
    LOCKSTEP,
    ORGANIC,
    RING_BLOCK,
    WORLD_BLOCK,
    AccountBlock,
    EventBlock,
    concat_events,
)
from training.simulator.bots import (
    BOT_FARM,
    DRIP_POOL,
    build_farms,
    camouflage_events,
    drip_events,
    lockstep_events,
)
from training.simulator.click_farm import build_click_farms, click_farm_events
from training.simulator.config import SimConfig, SimulatedSet
from training.simulator.giveaways import giveaway_events
from training.simulator.ids import seed_key
from training.simulator.market import Market, draw_market
from training.simulator.organic import organic_events
from training.simulator.replay import draw_replays
from training.simulator.ring import build_ring_alts, ring_events, with_pod_truth
from training.simulator.studios import studio_events
from training.simulator.world import World, build_world

# One random stream per component, so a switch never disturbs the other components.
STREAM_WORLD = 1
STREAM_MARKET = 2
STREAM_ORGANIC = 3
STREAM_BOT_FARM = 4
STREAM_LOCKSTEP = 5
STREAM_CAMOUFLAGE = 6
STREAM_DRIP = 7
STREAM_CLICK = 8
STREAM_RING = 9
STREAM_AGED = 10
STREAM_REPLAY = 11
STREAM_VIEWS = 12
STREAM_STUDIOS = 13
STREAM_COMMUNITIES = 14
STREAM_STUDIO_TRAFFIC = 15
STREAM_GIVEAWAYS = 16


def simulate(config: SimConfig | None = None) -> SimulatedSet:
    """Return a simulated set of CPE campaigns with honest traffic, fraud and truth.

    Deterministic for a config: the same seed gives identical frames.
    """
    config = SimConfig() if config is None else config

    def stream(number: int) -> np.random.Generator:
        return np.random.default_rng([config.seed, number])

    id_key = seed_key(config.seed, 0)
    world = build_world(
        stream(STREAM_WORLD),
        scale=config.scale,
        households=config.households,
        carrier_nat=config.carrier_nat,
        id_key=id_key,
        multi_week=config.multi_week,
    )
    if config.studios:
        world = with_studios(stream(STREAM_STUDIOS), world)
    world = with_communities(stream(STREAM_COMMUNITIES), world, config.communities)
    market = draw_market(stream(STREAM_MARKET), world)
    honest_posts = np.flatnonzero((market.post_primary == ORGANIC) & (market.post_secondary == ORGANIC))
    blocks = organic_events(
        stream(STREAM_ORGANIC),
        world,
        honest_posts=honest_posts,
        fan_clubs=config.fan_clubs,
        viral_posts=config.viral_posts,
    )
    if config.studios:
        blocks += studio_events(stream(STREAM_STUDIO_TRAFFIC), world)
    if config.giveaways:
        blocks.append(giveaway_events(stream(STREAM_GIVEAWAYS), world, honest_posts))
    accounts: dict[int, AccountBlock] = {WORLD_BLOCK: world.accounts}
    blocks += _scheme_events(config, world, market, accounts, stream)
    merged = concat_events(blocks)
    events = clean_events(world, with_pod_truth(world, market, merged) if config.ring else merged)
    replays = draw_replays(stream(STREAM_REPLAY), events) if config.replay else None
    return assemble(
        world,
        market,
        events,
        accounts,
        replays,
        config=config,
        rng=stream(STREAM_VIEWS),
        id_key=id_key,
    )


def _scheme_events(
    config: SimConfig,
    world: World,
    market: Market,
    accounts: dict[int, AccountBlock],
    stream: Callable[[int], np.random.Generator],
) -> list[EventBlock]:
    """Return the inflated event blocks of the enabled schemes; fill their accounts."""
    blocks: list[EventBlock] = []
    if config.bot_lockstep or config.bot_camouflage:
        platforms = _platforms(world, market, LOCKSTEP)
        accounts[BOT_BLOCK], farms = build_farms(stream(STREAM_BOT_FARM), world, platforms, spec=BOT_FARM)
        if config.bot_lockstep:
            blocks.append(lockstep_events(stream(STREAM_LOCKSTEP), world, market, farms))
        if config.bot_camouflage:
            blocks.append(camouflage_events(stream(STREAM_CAMOUFLAGE), world, market, farms))
    if config.drip_feed:
        rng = stream(STREAM_DRIP)
        platforms = _platforms(world, market, DRIP_FEED)
        accounts[DRIP_BLOCK], pools = build_farms(rng, world, platforms, spec=DRIP_POOL)
        blocks.append(drip_events(rng, world, market, pools))
    if config.click_farm:
        rng = stream(STREAM_CLICK)
        accounts[CLICK_BLOCK], click_farms = build_click_farms(
            rng, world, _platforms(world, market, CLICK_FARM)
        )
        blocks.append(click_farm_events(rng, world, market, click_farms))
    if config.ring:
        rng = stream(STREAM_RING)
        accounts[RING_BLOCK], alt_owner = build_ring_alts(rng, world, market)
        blocks.append(ring_events(rng, world, market, alt_owner))
    if config.aged_accounts:
        rng = stream(STREAM_AGED)
        accounts[AGED_BLOCK], aged_pools = build_aged_pools(rng, world, _platforms(world, market, AGED))
        blocks.append(aged_events(rng, world, market, aged_pools))
    return blocks


def _platforms(world: World, market: Market, scheme: int) -> npt.NDArray[np.int64]:
    """Return the platforms where ``scheme`` has bought posts (one seller on each)."""
    return np.unique(world.post_platform[market.bought_posts(scheme)])


def write_simulated_set(sim: SimulatedSet, out_dir: Path) -> None:
    """Write the set as Parquet: events, posts, campaigns, truth/events, truth/creators.

    truth/audiences is written too when the set has several audience communities.
    """
    out_dir = Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    sim.events.to_parquet(out_dir / "events.parquet", index=False)
    sim.posts.to_parquet(out_dir / "posts.parquet", index=False)
    sim.campaigns.to_parquet(out_dir / "campaigns.parquet", index=False)
    sim.truth_events.to_parquet(out_dir / "truth" / "events.parquet", index=False)
    sim.truth_creators.to_parquet(out_dir / "truth" / "creators.parquet", index=False)
    if len(sim.truth_audiences):
        sim.truth_audiences.to_parquet(out_dir / "truth" / "audiences.parquet", index=False)
