"""Builders for the weekly-training tests: a fast configuration on a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from detectors.params import ScoringParams
from features.contract import clean_events
from training.gates import GateConfig
from training.simulator import SimConfig, simulate
from training.suite import SuiteConfig
from training.week_inputs import TrainingConfig

# a deliberately worse scorer: one detector disabled
WORSE = ScoringParams(disabled=frozenset({"ip_farm"}))

# floors for the small suite (scale 0.3 windows flag more honest users than production-sized ones)
FAST_GATES = GateConfig(
    tolerance=0.02,
    max_payout_change=0.10,
    floors={"average_precision": 0.5, "precision": 0.7, "fraud_payout_withheld_share": 0.5},
    ceilings={"honest_payout_withheld_share": 0.1},
)


# the fast configuration for the CLI (``cpeguard train``/``retrain`` as subprocesses)
FAST_CLI_ENV = {
    "COLUMNS": "200",
    "NO_COLOR": "1",
    "CPEGUARD_SUITE_SEEDS": "9001",
    "CPEGUARD_SUITE_SCALE": "0.3",
    "CPEGUARD_COLD_START_SCALE": "0.3",
    "CPEGUARD_GATE_MIN_PRECISION": "0.7",
    "CPEGUARD_GATE_MIN_AVERAGE_PRECISION": "0.5",
    "CPEGUARD_GATE_MIN_FRAUD_WITHHELD": "0.5",
    "CPEGUARD_GATE_MAX_HONEST_WITHHELD": "0.1",
}


def store_uri(folder: Path) -> str:
    """An SQLite MLflow store in ``folder`` (artifacts beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def fast_config(uri: str, *, params: ScoringParams | None = None) -> TrainingConfig:
    """One small suite set, a small cold-start set, relaxed floors."""
    return TrainingConfig(
        tracking_uri=uri,
        params=params or ScoringParams(),
        suite=SuiteConfig(seeds=(9001,), scale=0.3),
        gates=FAST_GATES,
        min_week_events=2_000,
        min_labels=50,
        cold_start_scale=0.3,
    )


def week_events(seed: int = 5, scale: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean simulated events and their posts, standing in for a week of the event store."""
    sim = simulate(SimConfig(seed=seed, scale=scale))
    return clean_events(sim.events, source="test").frame, sim.posts
