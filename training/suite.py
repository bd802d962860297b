"""The fixed simulated suite every candidate and the champion are measured on (every scheme on)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from detectors.model import WindowScorer
from features.contract import clean_events
from training.evaluation import evaluate
from training.simulator import SimConfig, SimulatedSet, simulate


@dataclass(frozen=True)
class SuiteConfig:
    """Seeds and scale of the suite; fixed so that weeks compare like with like."""

    seeds: tuple[int, ...] = (9001, 9002)
    scale: float = 3.0


@dataclass(frozen=True)
class SuiteResult:
    """Mean metrics over the suite's sets, per-set metrics, and per-engagement risk with truth."""

    metrics: dict[str, float]
    per_set: pd.DataFrame
    scores: pd.DataFrame


@lru_cache(maxsize=8)
def suite_set(seed: int, scale: float) -> tuple[SimulatedSet, pd.DataFrame]:
    """One simulated set of the suite and its clean events (cached: the suite never changes)."""
    sim = simulate(SimConfig(seed=seed, scale=scale))
    return sim, clean_events(sim.events, source=f"suite seed {seed}").frame


def flat_metrics(metrics: dict[str, object]) -> dict[str, float]:
    """``evaluate``'s output with recall per scheme as ``recall_<scheme>``, numbers only."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({f"recall_{scheme}": float(v) for scheme, v in value.items()})
        elif isinstance(value, int | float):
            out[key] = float(value)
    return out


def evaluate_suite(scorer: WindowScorer, config: SuiteConfig) -> SuiteResult:
    """Score every set of the suite with ``scorer`` and average its metrics over the sets."""
    rows, scores = [], []
    for seed in config.seeds:
        sim, events = suite_set(seed, config.scale)
        scored = scorer.score(events, posts=sim.posts, campaigns=sim.campaigns)
        metrics = evaluate(
            engagements=scored.engagements,
            posts=scored.posts,
            accounts=scored.accounts,
            truth_events=sim.truth_events,
            truth_creators=sim.truth_creators,
        )
        rows.append({"seed": seed, **flat_metrics(metrics)})
        truth = sim.truth_events.drop_duplicates("event_id").set_index("event_id")
        eng = scored.engagements
        scores.append(
            pd.DataFrame(
                {
                    "seed": seed,
                    "risk": eng["risk"].to_numpy(dtype=np.float64),
                    "is_fraud": truth["invalid"].reindex(eng["event_id"]).fillna(False).to_numpy(dtype=bool),
                    "scheme": truth["scheme"]
                    .reindex(eng["event_id"])
                    .fillna("organic")
                    .astype("str")
                    .to_numpy(),
                }
            )
        )
    per_set = pd.DataFrame(rows)
    means = per_set.drop(columns="seed").mean(numeric_only=True)
    return SuiteResult(
        metrics={str(k): float(v) for k, v in means.items()},
        per_set=per_set,
        scores=pd.concat(scores, ignore_index=True),
    )
