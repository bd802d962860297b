"""Planted tests for the ring's neighbourhood chance (``RingParams.near_chance``, on by default): a
small scene whose every creator is a ring member keeps its fans; the ring keeps its alts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.rings import RingParams, ring_creators, rings
from tests.detectors.test_rings import _World

NEAR = RingParams()
GROUP_RATE = replace(NEAR, near_chance=False)


def _scene_world(
    seed: int, *, n_scene: int, outside: tuple[int, ...], roam: float = 0.3, n_keen: int = 12
) -> tuple[pd.DataFrame, list[str]]:
    """A platform (``_World``) plus a small scene of ``n_scene`` creators and its 200 fans: most
    engage one or two of its creators, a few keen ones all of them, and a third also one creator
    of the platform. Every creator of the scene is in a ring with the platform's creators
    ``outside``. Returns the events and the ring's creators."""
    world = _World(seed)
    rng = world.rng
    first = len(world.creators)
    names = [f"s{i:02d}" for i in range(n_scene)]
    world.creators = np.r_[world.creators, np.array(names, dtype=object)]
    world.niche = np.r_[world.niche, np.full(n_scene, -1)]
    world.post_creator = np.r_[world.post_creator, np.repeat(np.arange(first, first + n_scene), 4)]
    world.published_s = np.r_[world.published_s, rng.uniform(0, 5 * 86_400, 4 * n_scene)]
    for name in names:
        world.device[name], world.home_ip[name] = f"dev-{name}", f"ip-{name}"
    scene = list(range(first, first + n_scene))
    for i in range(200):
        keen = i < n_keen  # the scene's keenest fans follow all of it
        picks = scene if keen else rng.choice(scene, min(1 + rng.poisson(0.4), n_scene), replace=False)
        for c in picks:
            world.engage(f"scene-fan-{i:03d}", int(c), share=0.8 if keen else 0.4, label="scene_fan")
        if rng.random() < roam:
            world.engage(f"scene-fan-{i:03d}", int(rng.integers(first)), share=0.5, label="scene_fan")
    ring = scene + list(outside)
    world.add_ring(ring)
    return world.events(), [str(world.creators[c]) for c in ring]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_near_chance_leaves_the_fans_of_a_scene_made_of_ring_members_alone(seed: int) -> None:
    """Five creators make a scene whose fans engage only them; all five are in a ring with three
    other creators. The scene's keen fans engage every one of them: against the ring's engagers
    at large, they look concentrated on the ring (the group-wide rate flags them); against the
    engagers who share their creators (the scene's fans), they are ordinary. The alts engage
    every member, meet all the ring's engagers, and stay."""
    events, ring = _scene_world(seed, n_scene=5, outside=(3, 22, 40))
    label = events["label"].to_numpy()
    fan = label == "scene_fan"
    before = rings(events, params=GROUP_RATE).event_score >= 0.5
    assert before[fan].sum() > 200  # the failure: the group-wide rate takes the keen fans for alts
    detection = rings(events, params=NEAR)
    flagged = detection.event_score >= 0.5
    assert ring_creators(detection) == set(ring)
    assert flagged[label == "ring"].mean() >= 0.95
    # a fan inside the scene is left alone; one whose outside pick is an outside member of the ring
    # meets that member's fans too, and may stay (one fan, 21 events, in one of the three worlds)
    outside_pick = ~events["creator_id"].str.startswith("s").to_numpy()
    roams_to_ring = events["user_id"][fan & outside_pick & events["creator_id"].isin(ring).to_numpy()]
    inside_only = fan & ~events["user_id"].isin(roams_to_ring).to_numpy()
    assert not flagged[inside_only].any() and flagged[fan].sum() <= 0.1 * before[fan].sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_keen", [0, 12])
def test_near_chance_still_catches_a_ring_holding_a_whole_scene(seed: int, n_keen: int) -> None:
    """Three creators make a scene and all three are in a ring with two other creators (a
    community made only of ring members: every engager of the scene lands on the ring). The alts
    engage every member, so they meet every engager of the ring and are judged at its group-wide
    rate: caught as before, while the scene's fans (keen or not) are left alone."""
    events, ring = _scene_world(seed, n_scene=3, outside=(3, 22), n_keen=n_keen)
    label = events["label"].to_numpy()
    alts = events["user_id"].str.startswith("alt-").to_numpy()
    before = rings(events, params=GROUP_RATE).event_score >= 0.5
    detection = rings(events, params=NEAR)
    flagged = detection.event_score >= 0.5
    assert ring_creators(detection) == set(ring)
    assert flagged[label == "ring"].mean() >= 0.95
    assert np.array_equal(flagged[alts], before[alts]) and flagged[alts].mean() >= 0.95
    assert not flagged[label == "scene_fan"].any()


def test_near_chance_is_on_by_default_and_refuses_a_negative_prior() -> None:
    assert RingParams().near_chance is True
    with pytest.raises(ValueError, match="near_prior_pairs"):
        RingParams(near_prior_pairs=-1.0)
