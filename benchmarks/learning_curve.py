"""Learning-curve benchmark: train on one week's verdicts, decide the next week, in money.

Usage: python -m benchmarks.learning_curve [--scale 1.0] [--verdicts 0,200,2000,20000]
                                           [--shifted 2000,20000] [--out FILE]

Week k is a simulated world (seed 7101); the risk team's verdicts on it are exact
(the simulator's truth) but sampled as a review queue samples: up to half of them the
accounts the cold scorer flagged, a tenth uncertain accounts (highest risk near the cut:
active learning, reported per kind), the rest a random audit of the other accounts,
each verdict with its sampling probability (training/review_sample.py). The weekly
training step (training/fitting.py ``fit_week``: anomaly ensemble, stacker, operating
point on the latest half of the verdicts) is trained on them, and the cold scorer and
the trained one then decide week k+1 (the same world config, seed 7102). "shifted"
verdicts come from another world (studios, giveaways and three audience communities
on; drip-feed and rings off) and are tested on the same week k+1. Reports AP,
precision and recall at the learned point, honest and fraudulent money withheld, and
drip-feed recall; writes benchmarks/results/learning_curve.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from detectors.model import WindowScorer
from features.contract import clean_events
from training.evaluation import evaluate
from training.fitting import FittedWeek, fit_week
from training.operating import by_sample
from training.review_sample import account_truth, sample_verdicts
from training.simulator import SimConfig, SimulatedSet, simulate
from training.suite import flat_metrics
from training.week_inputs import TrainingConfig, WeekData
from training.weeks import parse_week

RESULTS = Path(__file__).parent / "results"
TRAIN_SEED, TEST_SEED, VERDICT_SEED = 7101, 7102, 7
WEEK = "2026-W45"
SHIFTED = {"studios": True, "giveaways": True, "communities": 3, "drip_feed": False, "ring": False}
FLAGGED_SHARE = 0.5
UNCERTAIN_SHARE = 0.1  # active learning: verdicts on accounts whose risk lies near the cut
COLUMNS = (
    "average_precision",
    "precision",
    "recall",
    "honest_payout_withheld_share",
    "fraud_payout_withheld_share",
    "recall_drip_feed",
)


@dataclass(frozen=True)
class World:
    """A simulated week, its clean events, and its accounts' truth and cold flags."""

    sim: SimulatedSet
    events: pd.DataFrame
    accounts: pd.DataFrame


def make_world(config: SimConfig) -> World:
    """Simulate a week and score it cold (the flags a review queue starts from)."""
    sim = simulate(config)
    events = clean_events(sim.events, source=f"seed {config.seed}").frame
    scored = WindowScorer().score(events, posts=sim.posts, campaigns=sim.campaigns)
    return World(sim, events, account_truth(sim, scored))


def decide(scorer: WindowScorer, world: World) -> dict[str, float]:
    """The test week's quality and money metrics under ``scorer``."""
    scored = scorer.score(world.events, posts=world.sim.posts, campaigns=world.sim.campaigns)
    metrics = flat_metrics(
        evaluate(
            engagements=scored.engagements,
            posts=scored.posts,
            accounts=scored.accounts,
            truth_events=world.sim.truth_events,
            truth_creators=world.sim.truth_creators,
        )
    )
    return {name: round(metrics.get(name, float("nan")), 5) for name in COLUMNS}


def train(world: World, n_verdicts: int) -> tuple[WindowScorer, dict[str, Any]]:
    """The week's trained scorer from ``n_verdicts`` sampled verdicts, and what its training decided."""
    start, end = parse_week(WEEK)
    labels = None
    if n_verdicts:
        labels = sample_verdicts(
            world.accounts,
            n=n_verdicts,
            seed=VERDICT_SEED,
            start=pd.Timestamp(start),
            end=pd.Timestamp(end),
            flagged_share=FLAGGED_SHARE,
            uncertain_share=UNCERTAIN_SHARE,
        )
    config = TrainingConfig(tracking_uri="")
    data = WeekData(week=WEEK, events=world.events, posts=world.sim.posts, labels=labels, source="benchmark")
    fitted = fit_week(config, data)
    held = fitted.supervised.held
    return fitted.scorer, {
        "verdicts_fraud": int(labels["label"].sum()) if labels is not None else 0,
        "held_out_honest": int((held["label"] == 0).sum()),
        "stacker": fitted.supervised.note,
        "cut": fitted.scorer.params.policy.invalid_risk,
        "hold_invalid_share": fitted.scorer.params.policy.hold_invalid_share,
        "learned": fitted.point.learned,
        "operating_point": fitted.point.note,
        **held_out_by_sample(fitted),
    }


def held_out_by_sample(fitted: FittedWeek) -> dict[str, float]:
    """The held-out verdicts per sampling kind at the learned point (``training.operating.by_sample``)."""
    if fitted.scored is None:
        return {}
    measured = by_sample(fitted.scored, fitted.supervised.held, policy=fitted.scorer.params.policy)
    return {name: round(value, 4) for name, value in measured.items()}


def run(scale: float, verdicts: list[int], shifted: list[int]) -> list[dict[str, Any]]:
    """Every row of the table: the cold scorer, then each trained one, decided on the test week."""
    test = make_world(SimConfig(seed=TEST_SEED, scale=scale))
    rows: list[dict[str, Any]] = [
        {"verdicts": 0, "world": "-", "model": "cold", **decide(WindowScorer(), test)}
    ]
    cases = [("same", n) for n in verdicts] + [("shifted", n) for n in shifted]
    worlds = {"same": SimConfig(seed=TRAIN_SEED, scale=scale)}
    worlds["shifted"] = SimConfig(seed=TRAIN_SEED, scale=scale, **SHIFTED)  # type: ignore[arg-type]
    built: dict[str, World] = {}
    for world, n in cases:
        started = time.perf_counter()
        if world not in built:
            built[world] = make_world(worlds[world])
        scorer, info = train(built[world], n)
        row = {"verdicts": n, "world": world, "model": "trained", **decide(scorer, test), **info}
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as the Markdown table of docs/training.md."""
    head = (
        "| verdicts | world | model | cut, invalid hold | AP | precision | recall | honest withheld "
        "| fraud withheld | drip-feed recall |"
    )
    lines = [head, "| " + " | ".join(["---"] * 10) + " |"]
    for r in rows:
        cut = f"{r.get('cut', 0.5):.2f}, {r.get('hold_invalid_share', 0.9):.2f}"
        cut += " (learned)" if r.get("learned") else ""
        lines.append(
            f"| {r['verdicts']:,} | {r['world']} | {r['model']} | {cut} | {r['average_precision']:.3f} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['honest_payout_withheld_share']:.2%} | "
            f"{r['fraud_payout_withheld_share']:.1%} | {r['recall_drip_feed']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--verdicts", default="0,200,2000,20000")
    parser.add_argument("--shifted", default="2000,20000")
    parser.add_argument("--out", type=Path, default=RESULTS / "learning_curve.json")
    args = parser.parse_args()
    numbers = [int(n) for n in args.verdicts.split(",") if n]
    shifted = [int(n) for n in args.shifted.split(",") if n]
    rows = run(args.scale, numbers, shifted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"scale": args.scale, "rows": rows}, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
