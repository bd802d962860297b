"""Windows of several simulated worlds side by side: audiences that never meet."""

from __future__ import annotations

import pytest

from benchmarks.windows import SIZES, STRUCTURES, WORLD_IDS, parse_variant, side_by_side, size_scale
from detectors.params import ScoringParams
from training.simulator import SimConfig, simulate


def test_worlds_side_by_side_share_platforms_and_never_an_account():
    # seeds 3 and 4 at a small scale draw some of the same ids (campaigns always do)
    sims = [simulate(SimConfig(seed=seed, scale=0.3, communities=2, studios=True)) for seed in (3, 4)]
    assert set(sims[0].events["campaign_id"]) == set(sims[1].events["campaign_id"])
    window = side_by_side(sims)
    assert len(window.events) == sum(len(s.events) for s in sims)
    world = window.events["user_id"].str.rsplit("-w", n=1).str[1]
    for column in ("user_id", "creator_id", "post_id", "campaign_id"):
        assert window.events.groupby(column)["user_id"].first().str.endswith(("-w0", "-w1")).all()
        # each id belongs to one world
        assert window.events.assign(world=world).groupby(column)["world"].nunique().max() == 1
    studios = window.posts["studio_id"].dropna()
    assert len(studios) and studios.str.endswith(("-w0", "-w1")).all()
    assert window.truth_audiences["user_id"].str.endswith(("-w0", "-w1")).all()
    assert set(window.events["platform"]) == set(sims[0].events["platform"]) | set(sims[1].events["platform"])
    assert "studio_id" in WORLD_IDS and STRUCTURES["worlds=4+communities=3+studios+giveaways"]["worlds"] == 4


def test_a_variant_switches_a_knob_off_as_python_or_json_spells_it():
    """``=False`` was read as the string "False", which is true: a variant meant to switch a rule off
    ran it on (the i12d side-by-side runs of ``cover_strangers_by_footprint``)."""
    for spelling in ("False", "false"):
        label, knobs = parse_variant(f"old:detectors__pool__cover_strangers_by_footprint={spelling};x=1.5")
        assert label == "old" and knobs == {"detectors__pool__cover_strangers_by_footprint": False, "x": 1.5}
    params = ScoringParams().set_params(**parse_variant("v:detectors__pool__cover_within_audience=False")[1])
    assert params.detectors.pool.cover_within_audience is False


def test_a_size_is_named_or_thousands_of_events():
    """Sizes near a named one scale as it does (pool50k's scans at 30k-70k): 100,000 events per 1.0."""
    assert size_scale("50k") == SIZES["50k"]
    assert size_scale("40k") == 0.4 and size_scale("70k") == 0.7 and size_scale("5M") == SIZES["5M"]
    for wrong in ("40", "4.5k", "k", "40K"):
        with pytest.raises(SystemExit):
            size_scale(wrong)
