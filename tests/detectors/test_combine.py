import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.combine import combine


def test_combine_names_the_strongest_detector_and_its_evidence():
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [3], "n_posts": [2], "evidence": ["lockstep: 3"]})
    a = Detection("lockstep", np.array([0.9, 0.0, 0.25]), np.array([0, -1, 0]), groups)
    b = Detection("new_account", np.array([0.2, 0.1, 0.25]), np.array([0, 0, 0]), groups)
    out = combine([a, b], n_events=3, invalid_risk=0.5)
    assert out["invalid"].tolist() == [True, False, False]
    assert out["reason"].tolist() == ["lockstep", "", ""]
    assert out.loc[0, "evidence"] == "lockstep: 3"
    assert np.isclose(out.loc[0, "risk"], 1 - 0.1 * 0.8)
