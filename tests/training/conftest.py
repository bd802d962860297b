"""Session fixtures of the weekly-training tests: one small MLflow store with two weekly runs.

2026-W45 is trained with every detector and promoted to champion; 2026-W46 with one detector
disabled and kept as challenger (the gates refuse it). The pipeline tests and the report
notebook test read the same store.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.training.weekly import WORSE, fast_config, store_uri, week_events
from training.pipeline import TrainingResult, run
from training.week_inputs import WeekData


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI of the shared SQLite MLflow store (artifacts beside it)."""
    return store_uri(tmp_path_factory.mktemp("mlruns"))


@pytest.fixture(scope="session")
def events() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated week of clean events and its posts."""
    return week_events()


@pytest.fixture(scope="session")
def first(store: str, events: tuple[pd.DataFrame, pd.DataFrame]) -> TrainingResult:
    """2026-W45, every detector on: the first champion."""
    frame, posts = events
    return run(fast_config(store), WeekData(week="2026-W45", events=frame, posts=posts))


@pytest.fixture(scope="session")
def worse(store: str, first: TrainingResult, events: tuple[pd.DataFrame, pd.DataFrame]) -> TrainingResult:
    """2026-W46, one detector disabled: refused by the gates, kept as challenger."""
    frame, posts = events
    return run(fast_config(store, params=WORSE), WeekData(week="2026-W46", events=frame, posts=posts))
