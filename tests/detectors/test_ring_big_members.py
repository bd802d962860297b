"""Planted tests for the ring's class-share chance counted over the units an account has not engaged
yet (``RingParams.other_units_chance``, on by default): a five-creator ring on a small platform, two
of its members that platform's stars, keeps its alts; the stars' fans stay clean."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.rings import RingParams, ring_creators, rings
from tests.detectors.test_rings import _World

OTHER_UNITS = RingParams()
WHOLE_SHARE = replace(OTHER_UNITS, other_units_chance=False)
MEMBERS = [0, 1, 7, 13, 19]  # five creators across the niches; 0 and 1 are stars


class _StarWorld(_World):
    """A small platform (2,000 users, 25 creators) whose creators 0 and 1 are 20x as popular."""

    def _fans(self, users: list[str]) -> None:
        self.popularity[[0, 1]] *= 20.0
        super()._fans(users)


def _star_ring(seed: int) -> tuple[pd.DataFrame, set[str]]:
    world = _StarWorld(seed, n_users=2_000, n_creators=25)
    world.add_ring(MEMBERS)
    return world.events(), {str(world.creators[c]) for c in MEMBERS}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_small_ring_holding_a_platforms_stars_keeps_its_alts(seed: int) -> None:
    """The members hold 39-46% of the honest engagements, most in the two stars: an alt engaging
    all five is judged against the chance of hitting the members it had not engaged yet."""
    events, members = _star_ring(seed)
    honest = ~events["label"].eq("ring").to_numpy()
    assert events["creator_id"].isin(members).to_numpy()[honest].mean() > 0.35
    d = rings(events, params=OTHER_UNITS)
    assert ring_creators(d) == members
    flagged = d.event_score >= 0.5
    assert flagged[~honest].mean() >= 0.95
    assert not flagged[honest].any()
    # against the members' whole share (the stars' fans hit a star once, rarely a second member)
    # the alts look like fans: no ring
    assert ring_creators(rings(events, params=WHOLE_SHARE)) == set()


def test_other_units_chance_only_lowers_the_floor_towards_the_members_not_yet_engaged() -> None:
    """The share after k hits never exceeds the whole share and falls as hits take the big units."""
    from detectors.rings._chance import _other_units

    unit_share = np.array([[0.125, 0.103, 0.039, 0.020, 0.004], [0.02, 0.02, 0.02, 0.02, 0.02]])
    rates = _other_units(unit_share)
    assert rates.shape == (2, 4)
    assert np.all(np.diff(rates, axis=1) < 0)
    assert 0.20 < rates[0, 0] < 0.22 < unit_share[0].sum()  # two stars: 0.29 -> 0.215
    # an even share is barely touched: the next pick sees four of five units
    assert rates[1, 0] == pytest.approx(0.08 / 0.98)
