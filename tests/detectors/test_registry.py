"""The detector registry: one spec per detector, and everything else derived from it."""

from dataclasses import fields
from pathlib import Path

from detectors.fitted import STACKED_DETECTORS
from detectors.params import DetectorParams, ScoringParams
from detectors.registry import (
    DETECTORS,
    NAMES,
    PROGRESS_STEPS,
    WEAK,
    Kind,
    markdown_table,
    unavailable_signals,
)
from detectors.scorer import score_window
from tests.factories import clean, raw_events

DOCS = Path(__file__).parents[2] / "docs" / "detection.md"


def test_registry_each_detector_has_its_params_in_the_tree_under_its_name():
    tree = {item.name: item for item in fields(DetectorParams)}
    assert list(tree) == list(NAMES)
    for spec in DETECTORS:
        assert isinstance(DetectorParams().of(spec.name), spec.params)


def test_registry_derives_steps_stacker_columns_and_weak_set():
    assert ("read", *NAMES, "decide", "write") == PROGRESS_STEPS
    assert tuple(spec.name for spec in DETECTORS if spec.stacked) == STACKED_DETECTORS
    assert "known_seller" not in STACKED_DETECTORS  # reputation is drawn from the labels it learns
    assert {spec.name for spec in DETECTORS if spec.kind is Kind.WEAK} == WEAK
    assert len(set(NAMES)) == len(NAMES)


def test_registry_table_in_the_docs_is_the_registry():
    assert markdown_table() in DOCS.read_text()


def test_registry_a_disabled_detector_is_not_run_and_missing_inputs_are_named():
    events = clean(raw_events(30))
    scored = score_window(events, params=ScoringParams(disabled=frozenset({"lockstep", "anomaly"})))
    names = [d.name for d in scored.detections]
    assert names == [n for n in NAMES if n not in {"lockstep", "anomaly"}]
    missing = unavailable_signals(events.drop(columns=["device_id"]))
    assert "device_farm (no device_id)" in missing
