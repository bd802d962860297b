"""What a weekly training run starts from: its configuration, the week's data, the events it
fits on (or a simulated cold start) and their features."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import pandas as pd

from detectors.params import ScoringParams
from features.account_features import account_features
from features.contract import clean_events
from features.dedup import distinct_engagements
from features.timing import publication_times
from training.backtest import SettledHistory
from training.gates import GateConfig
from training.operating import OperatingConfig
from training.simulator import SimConfig, simulate
from training.suite import SuiteConfig
from training.tracking import MODEL_NAME


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides its data (built by the entry layer from Settings)."""

    tracking_uri: str
    params: ScoringParams = field(default_factory=ScoringParams)
    model_name: str = MODEL_NAME
    suite: SuiteConfig = field(default_factory=SuiteConfig)
    gates: GateConfig = field(default_factory=GateConfig)
    operating: OperatingConfig = field(default_factory=OperatingConfig)
    min_week_events: int = 2_000
    min_labels: int = 200
    cold_start_scale: float = 1.0


@dataclass(frozen=True)
class WeekData:
    """One ISO week's inputs: its clean events, the verdicts so far, and the last settlements."""

    week: str
    events: pd.DataFrame
    posts: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    history: SettledHistory | None = None
    source: str = "given"


def week_seed(week: str) -> int:
    """A stable seed per week (for the cold-start and held-out simulated sets)."""
    return zlib.crc32(week.encode()) % 1_000_000


def training_events(data: WeekData, config: TrainingConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """The week's events, or a simulated cold-start set when the week has too few."""
    if len(data.events) >= config.min_week_events:
        return data.events, data.posts, f"{data.source}: {len(data.events):,} events"
    sim = simulate(SimConfig(seed=week_seed(data.week), scale=config.cold_start_scale))
    events = clean_events(sim.events, source="cold-start simulation").frame
    note = (
        f"simulated cold start (the week had {len(data.events):,} events, "
        f"fewer than {config.min_week_events:,})"
    )
    return events, sim.posts, note


def week_features(events: pd.DataFrame, posts: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(distinct engagements, account features) of a window."""
    engagements = distinct_engagements(events)
    return engagements, account_features(engagements, publication_times(engagements, posts))
