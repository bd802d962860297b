"""One platform of a dev window from the benchmarks' window maker, for tests that replay a measured window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.windows import make_window
from detectors.context import WindowContext
from detectors.params import ScoringParams


def platform_rows(
    seed: int, size: str, structure: str, platform: str
) -> tuple[pd.DataFrame, np.ndarray, WindowContext]:
    """Dev window ``seed`` of ``size`` and ``structure`` on ``platform``: its rows, per row whether it is
    honest (simulator truth), and the whole window's context."""
    window = make_window(seed, size, structure, honest_only=False)
    rows = window.events.loc[(window.events["platform"] == platform).to_numpy()]
    truth = window.sim.truth_events.set_index("event_id").reindex(rows["event_id"])
    honest = ~truth["invalid"].fillna(False).to_numpy(dtype=bool)
    context = WindowContext(
        window.events.drop(columns=["event_id"]),
        posts=window.sim.posts,
        fitted=None,
        audience=ScoringParams().audience,
    )
    return rows.drop(columns=["event_id"]), honest, context
