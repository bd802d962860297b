"""Windows of every size and audience structure, shared by the calibration and quality-by-size benchmarks.

A window is a simulated set at one size (``SIZES``: events, about linear in
the simulator's scale) with one audience structure (``STRUCTURES``: which of
the simulator's honest structures are on). Decisions are made on the
development seeds; the final table is run once on the held-out seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from detectors.params import ScoringParams
from detectors.scorer import ScoredWindow, score_window
from features.contract import clean_events
from training.simulator import SimConfig, SimulatedSet, simulate

# Simulator scale per window size; scale 1.0 is about 100,000 events.
# 300k: one world of the worlds-side-by-side runs (scale 3; e.g. world seed 3005, issue 12's ring case)
SIZES: dict[str, float] = {"5k": 0.05, "50k": 0.5, "300k": 3.0, "500k": 5.0, "5M": 50.0, "20M": 200.0}
DEFAULT_SIZES = ("5k", "50k", "500k")
# any other size written as thousands of events ("40k", "70k") scales the same way: 100k events per 1.0
EVENTS_PER_SCALE = 100_000
LARGE_SIZES = ("5M",)
STRUCTURES: dict[str, dict[str, Any]] = {
    "plain": {},
    "communities=2": {"communities": 2},
    "studios": {"studios": True},
    "giveaways": {"giveaways": True},
    "studios+giveaways": {"studios": True, "giveaways": True},
    "communities=3+studios+giveaways": {"communities": 3, "studios": True, "giveaways": True},
    # the window's size split over four worlds side by side (``side_by_side``): every platform holds
    # four audiences that never meet, each with its own communities, studios and giveaways
    "worlds=4+communities=3+studios+giveaways": {
        "worlds": 4,
        "communities": 3,
        "studios": True,
        "giveaways": True,
    },
}
# ids each world names on its own (the simulator draws them from its seed, so two seeds may
# draw the same one); suffixed per world so that worlds side by side never share an account
WORLD_IDS = ("campaign_id", "post_id", "creator_id", "user_id", "studio_id")
DEV_SEEDS = "3,4,5,6,7,8"
# Held out for the final table: never used while choosing chance models or floors.
HELD_OUT_SEEDS = "9201,9202,9203"


@dataclass(frozen=True)
class Window:
    """One simulated window, its clean events and how long simulating it took."""

    seed: int
    size: str
    structure: str
    sim: SimulatedSet
    events: pd.DataFrame
    simulate_seconds: float


def make_window(seed: int, size: str, structure: str, *, honest_only: bool) -> Window:
    """Return the simulated window of ``size`` and ``structure`` (every scheme off when ``honest_only``)."""
    started = time.perf_counter()
    sim = simulated_set(seed, size_scale(size), structure, honest_only=honest_only)
    events = clean_events(sim.events, source=f"seed {seed} {size} {structure}").frame
    return Window(seed, size, structure, sim, events, time.perf_counter() - started)


def simulated_set(seed: int, scale: float, structure: str, *, honest_only: bool) -> SimulatedSet:
    """Return the simulated set of ``structure`` at simulator ``scale`` (split over its worlds)."""
    knobs = dict(STRUCTURES[structure])
    worlds = int(knobs.pop("worlds", 1))
    sims = []
    for world in range(worlds):
        # one world keeps the window's own seed; worlds side by side take seed * 1000 + world
        # (as benchmarks/large_windows.py does)
        world_seed = seed if worlds == 1 else seed * 1000 + world
        config = SimConfig(seed=world_seed, scale=scale / worlds, **knobs)
        sims.append(simulate(config.honest_only() if honest_only else config))
    return sims[0] if worlds == 1 else side_by_side(sims)


def size_scale(size: str) -> float:
    """The simulator scale of a window size: a named one of ``SIZES``, or thousands of events ("40k")."""
    if size in SIZES:
        return SIZES[size]
    match = re.fullmatch(r"(\d+)k", size)
    if match is None:
        raise SystemExit(f"unknown size {size!r}: one of {', '.join(SIZES)} or thousands of events, as 40k")
    return int(match.group(1)) * 1_000 / EVENTS_PER_SCALE


def side_by_side(sims: list[SimulatedSet]) -> SimulatedSet:
    """One window of simulated worlds that share platforms and period but never an account.

    Each world's ``WORLD_IDS`` get the suffix ``-w<number>``: the worlds' campaigns,
    posts, creators, users and studios stay apart even where two seeds drew the same id.
    """

    def joined(name: str) -> pd.DataFrame:
        frames = [with_world_ids(getattr(sim, name), number) for number, sim in enumerate(sims)]
        return pd.concat(frames, ignore_index=True)

    names = ("events", "posts", "campaigns", "truth_events", "truth_creators", "truth_audiences")
    return SimulatedSet(**{name: joined(name) for name in names})


def structure_options(structure: str) -> list[str]:
    """``cpeguard simulate`` options of a structure of benchmarks/windows.py."""
    knobs = STRUCTURES[structure]
    options = ["--communities", str(knobs.get("communities", 1))]
    options += ["--studios"] if knobs.get("studios") else []
    options += ["--giveaways"] if knobs.get("giveaways") else []
    return options


def with_world_ids(frame: pd.DataFrame, number: int) -> pd.DataFrame:
    """``frame`` with the ``WORLD_IDS`` it holds suffixed ``-w<number>`` (missing ids stay missing)."""
    renamed = {column: frame[column].astype("str") + f"-w{number}" for column in WORLD_IDS if column in frame}
    return frame.assign(**renamed)


def score(window: Window, params: ScoringParams, *, posts: pd.DataFrame | None = None) -> ScoredWindow:
    """Return the window scored cold with ``params`` (``posts`` replaces the window's posts)."""
    return score_window(
        window.events,
        posts=window.sim.posts if posts is None else posts,
        campaigns=window.sim.campaigns,
        params=params,
    )


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """Return (label, knobs) of ``"label:name=value;name=value"`` (values read as JSON when they parse;
    Python's ``True`` and ``False`` are booleans too: as the string "False" a switch would stay on)."""
    label, _, assignments = text.partition(":")
    knobs: dict[str, Any] = {}
    for assignment in filter(None, assignments.split(";")):
        name, _, raw = assignment.partition("=")
        if raw.strip() in ("True", "False"):
            knobs[name.strip()] = raw.strip() == "True"
            continue
        try:
            knobs[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            knobs[name.strip()] = raw.strip()
    return label.strip(), knobs


def seeds(text: str) -> list[int]:
    """Return the seeds of a comma-separated list."""
    return [int(s) for s in text.split(",") if s.strip()]


def window_arguments(description: str | None, *, structures: tuple[str, ...]) -> argparse.ArgumentParser:
    """A parser with the options every window benchmark shares: seeds, sizes, --large, structures."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seeds", default="3", help="development seeds 3-8; held-out 9201-9203 for the final table"
    )
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    parser.add_argument("--large", action="store_true", help="add the 5M-event windows")
    parser.add_argument("--structures", default=",".join(structures))
    return parser
