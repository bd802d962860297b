import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.combine import combine


def test_combine_names_the_strongest_detector_and_its_evidence():
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [3], "n_posts": [2], "evidence": ["lockstep: 3"]})
    a = Detection("lockstep", np.array([0.9, 0.0, 0.25]), np.array([0, -1, 0]), groups)
    b = Detection("new_account", np.array([0.2, 0.1, 0.25]), np.array([0, 0, 0]), groups)
    out = combine([a, b], n_events=3, invalid_risk=0.5, weak=frozenset(), weak_cap=0.45)
    assert out["invalid"].tolist() == [True, False, False]
    assert out["reason"].tolist() == ["lockstep", "", ""]
    assert out.loc[0, "evidence"] == "lockstep: 3"
    assert np.isclose(out.loc[0, "risk"], 1 - 0.1 * 0.8)


def test_combine_caps_weak_evidence_and_keeps_the_first_of_equally_strong_detectors():
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [1], "n_posts": [1], "evidence": ["x"]})
    weak = Detection("burst", np.array([0.45, 0.9]), np.array([0, 0]), groups)
    also_weak = Detection("anomaly", np.array([0.45, 0.0]), np.array([0, -1]), groups)
    strong = Detection("ring", np.array([0.0, 0.9]), np.array([-1, 0]), groups)
    weak_names = frozenset({"burst", "anomaly"})
    out = combine([weak, also_weak, strong], n_events=2, invalid_risk=0.5, weak=weak_names, weak_cap=0.45)
    assert np.isclose(out.loc[0, "risk"], 0.45)  # two weak hints stay at the cap
    assert not out.loc[0, "invalid"]
    assert out.loc[1, "invalid"]
    assert out.loc[1, "reason"] == "burst"  # a tie goes to the first detector


def test_combine_is_row_by_row_so_a_window_combines_its_own_rows_alone():
    """Scored with history, only the window's rows are combined (``detectors.scorer.window``)."""
    rng = np.random.default_rng(5)
    n, rows = 400, np.sort(rng.choice(400, 150, replace=False))
    detections = []
    for name in ("lockstep", "pool", "burst"):
        groups = pd.DataFrame(
            {
                "group_id": range(6),
                "n_accounts": 2,
                "n_posts": 2,
                "evidence": [f"{name} {g}" for g in range(6)],
            }
        )
        score = np.where(rng.random(n) < 0.4, rng.random(n), 0.0)
        detections.append(Detection(name, score, np.where(score > 0, rng.integers(0, 6, n), -1), groups))
    knobs = {"invalid_risk": 0.5, "weak": frozenset({"burst"}), "weak_cap": 0.45}
    whole = combine(detections, n_events=n, **knobs).iloc[rows].reset_index(drop=True)
    own = [Detection(d.name, d.event_score[rows], d.event_group[rows], d.groups) for d in detections]
    alone = combine(own, n_events=len(rows), **knobs)
    assert whole["invalid"].sum() > 20 and whole["reason"].astype(str).nunique() == 4
    for frame in (whole, alone):
        for column in ("reason", "evidence"):
            frame[column] = frame[column].astype(str)
    pd.testing.assert_frame_equal(alone, whole, check_exact=True)
