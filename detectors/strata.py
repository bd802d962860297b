"""Run a window detector on each platform's events alone.

Accounts and posts never cross platforms, so a null model that measures
chance over the whole window is wrong for every platform but the largest: on
a platform with a twentieth of the window's engagement, honest overlap between
two posts looks twenty times less likely than it is. Detectors whose tests
compare the graph against a degree null model run once per platform, so each
platform's engagement is judged against its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import numpy as np
import pandas as pd

from detectors.base import Detection
from features.arrays import codes, distinct

WindowDetector = Callable[[pd.DataFrame], Detection]


def per_platform(detect: WindowDetector, *, column: str = "platform") -> WindowDetector:
    """``detect`` run on each platform's rows alone, stitched into one detection of the window.

    Rows without a platform form a stratum of their own. Group ids are
    renumbered so that they stay unique, and each group row names its
    ``platform``. A window of one platform (or without the column) runs as is.
    """

    @wraps(detect)
    def run(engagements: pd.DataFrame) -> Detection:
        if column not in engagements:
            return detect(engagements)
        stratum = codes(engagements[column])
        present = distinct(stratum)
        if len(present) <= 1:
            return detect(engagements)
        n = len(engagements)
        score = np.zeros(n, dtype=np.float64)
        group = np.full(n, -1, dtype=np.int64)
        frames: list[pd.DataFrame] = []
        name = ""
        offset = 0
        for value in present:
            rows = np.flatnonzero(stratum == value)
            part = detect(engagements.iloc[rows])
            name = part.name
            score[rows] = part.event_score
            group[rows] = np.where(part.event_group >= 0, part.event_group + offset, -1)
            if not part.groups.empty:
                label = str(engagements[column].iloc[rows[0]]) if value >= 0 else ""
                frames.append(part.groups.assign(group_id=part.groups["group_id"] + offset, platform=label))
                offset += int(part.groups["group_id"].max()) + 1
        if not frames:
            return Detection.empty(name, n)
        return Detection(name, score, group, pd.concat(frames, ignore_index=True))

    return run
