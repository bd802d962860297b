"""The parameter tree: every knob reachable, hashed into the rules version, runtime knobs not."""

from dataclasses import replace

import pytest

from detectors.params import PolicyParams, RuntimeParams, ScoringParams, params_from_dict, rules_version


def test_params_get_params_reaches_every_detector_knob():
    flat = ScoringParams().get_params()
    assert flat["policy__invalid_risk"] == 0.5
    assert any(name.startswith("detectors__pool__") for name in flat)
    assert any(name.startswith("detectors__lockstep__") for name in flat)
    assert any(name.startswith("spread__") for name in flat)
    assert len(flat) > 90


def test_params_every_decisive_knob_changes_the_rules_version():
    base = ScoringParams()
    version = rules_version(base)
    for name, value in base.get_params().items():
        if name.startswith("runtime__") or name == "disabled":
            continue
        changed = base.set_params(**{name: _other(value)})
        assert rules_version(changed) != version, name


def _other(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, tuple):
        return (*value, 2.0)
    if isinstance(value, str):
        # the history modes and the pool's tied homes
        return {"exact": "condensed", "condensed": "exact", "lowest": "shared"}[value]
    if isinstance(value, float):
        return value / 2 if value else 0.25  # stays inside every share's range
    assert isinstance(value, int)
    return value + 1


def test_params_runtime_knobs_do_not_change_the_rules_version():
    threads = ScoringParams(runtime=RuntimeParams(workers=1, parallel_from_events=10))
    assert rules_version(threads) == rules_version(ScoringParams())
    assert rules_version(ScoringParams(disabled=frozenset({"ring"}))) != rules_version(ScoringParams())


def test_params_round_trip_through_their_flat_form():
    params = ScoringParams().set_params(policy__review_risk=0.4, detectors__pool__max_fdr=0.05)
    assert params_from_dict(params.get_params()) == params
    with pytest.raises(ValueError, match="detectors__pool__nope"):
        ScoringParams().set_params(detectors__pool__nope=1)


def test_params_weak_cap_is_derived_from_the_review_band():
    assert PolicyParams().weak_cap == 0.45
    assert replace(PolicyParams(), review_risk=0.3).weak_cap == pytest.approx(0.29)
    assert PolicyParams().weak_cap < PolicyParams().review_risk


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("detectors__pool__cover_within_audience", "False", "true or false"),
        ("detectors__pool__cover_within_audience", 0, "true or false"),
        ("detectors__pool__max_fdr", "0.05", "a number"),
        ("policy__invalid_risk", True, "a number"),
    ],
)
def test_params_refuse_a_knob_of_the_wrong_type(name, value, says):
    """The string "False" is true: a switch set from text would silently stay on (an ablation that
    measured nothing), so a switch takes a bool and a number takes a number, or the knob is named."""
    with pytest.raises(ValueError, match=f"{name} takes {says}"):
        ScoringParams().set_params(**{name: value})
    assert ScoringParams().set_params(detectors__pool__max_fdr=1).detectors.pool.max_fdr == 1
