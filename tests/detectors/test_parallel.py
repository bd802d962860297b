from functools import partial

import numpy as np
import pandas as pd

from detectors.parallel import run_detectors
from detectors.params import RuntimeParams, ScoringParams
from detectors.rules import (
    DeviceFarmParams,
    DuplicateParams,
    NewAccountParams,
    device_farms,
    duplicates,
    new_accounts,
)
from detectors.scorer import score_window
from features.contract import clean_events
from features.dedup import distinct_engagements
from training.simulator import SimConfig, simulate


def test_run_detectors_in_threads_matches_serial():
    events = distinct_engagements(
        clean_events(simulate(SimConfig(seed=4, scale=0.05)).events, source="sim").frame
    )
    tasks = [
        ("duplicate", partial(duplicates, params=DuplicateParams())),
        ("device_farm", partial(device_farms, params=DeviceFarmParams())),
        ("new_account", partial(new_accounts, params=NewAccountParams())),
    ]
    serial = run_detectors(tasks, events, workers=1)
    threaded = run_detectors(tasks, events, workers=2)
    assert [d.name for d in threaded] == ["duplicate", "device_farm", "new_account"]
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a.event_score, b.event_score)
        np.testing.assert_array_equal(a.event_group, b.event_group)
        pd.testing.assert_frame_equal(a.groups, b.groups)


def test_score_window_parallel_equals_serial():
    sim = simulate(SimConfig(seed=8, scale=0.1))
    events = clean_events(sim.events, source="sim").frame
    serial = score_window(events, posts=sim.posts, params=ScoringParams(runtime=RuntimeParams(workers=1)))
    parallel = score_window(
        events,
        posts=sim.posts,
        params=ScoringParams(runtime=RuntimeParams(workers=2, parallel_from_events=0)),
    )
    pd.testing.assert_frame_equal(serial.engagements, parallel.engagements)
    pd.testing.assert_frame_equal(serial.posts, parallel.posts)
