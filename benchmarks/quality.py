"""Detection-quality benchmark: the full system, baselines and ablations on held-out seeds.

Usage: python -m benchmarks.quality [--seeds 9101,9102,9103] [--scale 1.0] [--no-ablations] [--out FILE]
Writes benchmarks/results/quality.json (or FILE) and prints Markdown tables for the README.
The default seeds 9101-9103 are held out: never used while developing detectors.
Development seeds (3-8 and 11-16) are measured with --no-ablations into
quality_dev*.json. The simulator draws every scheme with all honest oddities on
(households, carrier NAT, fan clubs, viral posts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyod.models.iforest import IForest

from detectors.dense import DenseBlockParams, dense_blocks
from detectors.params import ScoringParams
from detectors.scorer import score_window
from features.account_features import account_features
from features.contract import clean_events
from features.dedup import distinct_engagements
from features.timing import publication_times
from training.evaluation import evaluate
from training.simulator import SimConfig, simulate

RESULTS = Path(__file__).parent / "results"
ABLATE_DETECTORS = (
    "pool",
    "ip_farm",
    "lockstep",
    "dense_block",
    "ring",
    "device_farm",
    "burst",
    "scripted",
    "new_account",
    "anomaly",
)
ABLATE_COLUMNS = {
    "no device_id": ["device_id"],
    "no ip": ["ip"],
    "no account age": ["user_created_at"],
    "no device, ip, age, followers, text": [
        "device_id",
        "ip",
        "user_created_at",
        "user_followers",
        "comment_text",
    ],
}
HEADLINE = (
    "average_precision",
    "precision_at_recall_95",
    "precision",
    "recall",
    "honest_flagged_share",
    "min_scheme_recall",
    "fraud_payout_withheld_share",
    "honest_payout_withheld_share",
    "honest_payout_held_share",
    "creator_precision",
    "creator_recall",
)


def _metrics(
    sim: Any, engagements: pd.DataFrame, posts: pd.DataFrame, accounts: pd.DataFrame
) -> dict[str, Any]:
    m = evaluate(
        engagements=engagements,
        posts=posts,
        accounts=accounts,
        truth_events=sim.truth_events,
        truth_creators=sim.truth_creators,
    )
    m["min_scheme_recall"] = min(m["recall_by_scheme"].values())
    return m


def _full(sim: Any, events: pd.DataFrame, *, disabled: frozenset[str] = frozenset()) -> dict[str, Any]:
    scored = score_window(
        events, posts=sim.posts, campaigns=sim.campaigns, params=ScoringParams(disabled=disabled)
    )
    return _metrics(sim, scored.engagements, scored.posts, scored.accounts)


def _as_scored(sim: Any, events: pd.DataFrame, risk: np.ndarray, *, invalid: np.ndarray) -> dict[str, Any]:
    """Evaluate a baseline's per-engagement risk through the same policy as the full system."""
    from detectors.params import PolicyParams
    from detectors.policy import decide_posts, flag_accounts, unit_prices

    engagements = distinct_engagements(events)
    engagements["risk"] = risk
    engagements["invalid"] = invalid
    engagements["reason"] = np.where(invalid, "baseline", "")
    price = unit_prices(engagements, sim.campaigns, default_unit_price=1.0)
    engagements["unit_price"] = price
    policy = PolicyParams()
    posts = decide_posts(engagements, price=price, policy=policy)
    accounts = flag_accounts(engagements, policy=policy)
    return _metrics(sim, engagements, posts, accounts)


def _iforest_baseline(sim: Any, events: pd.DataFrame, *, seed: int) -> dict[str, Any]:
    engagements = distinct_engagements(events)
    features = account_features(engagements, publication_times(engagements, sim.posts)).astype("float64")
    X = features.fillna(features.median()).fillna(0.0).to_numpy()
    model = IForest(n_estimators=200, contamination=0.1, random_state=seed).fit(X)
    per_account = pd.Series(model.decision_scores_, index=features.index)
    ranked = per_account.rank(pct=True)
    risk = ranked.reindex(engagements["user_id"]).to_numpy()
    return _as_scored(sim, events, risk, invalid=risk >= 0.9)


def _dense_baseline(sim: Any, events: pd.DataFrame) -> dict[str, Any]:
    engagements = distinct_engagements(events)
    detection = dense_blocks(engagements, params=DenseBlockParams())
    return _as_scored(sim, events, detection.event_score, invalid=detection.event_score >= 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="9101,9102,9103")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument(
        "--out",
        default=str(RESULTS / "quality.json"),
        help="results file (development seeds go to quality_dev*.json, beside the held-out run)",
    )
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        sim = simulate(SimConfig(seed=seed, scale=args.scale))
        events = clean_events(sim.events, source=f"seed {seed}").frame
        variants: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("full system", partial(_full, sim, events)),
            (
                "baseline: IsolationForest on account features",
                partial(_iforest_baseline, sim, events, seed=seed),
            ),
            ("baseline: dense-block peeling alone", partial(_dense_baseline, sim, events)),
        ]
        if not args.no_ablations:
            for detector in ABLATE_DETECTORS:
                variants.append(
                    (f"without {detector}", partial(_full, sim, events, disabled=frozenset({detector})))
                )
            for label, columns in ABLATE_COLUMNS.items():
                variants.append((label, partial(_full, sim, events.drop(columns=columns))))
        for name, run in variants:
            result = run()
            result["seed"] = seed
            runs.setdefault(name, []).append(result)
        full = runs["full system"][-1]
        print(
            f"seed {seed}: {len(events):,} events, AP {full['average_precision']:.4f}, "
            f"min scheme recall {full['min_scheme_recall']:.3f}, honest flagged "
            f"{full['honest_flagged_share']:.4%} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    report = {
        "command": " ".join(
            [
                f"python -m benchmarks.quality --seeds {args.seeds} --scale {args.scale}",
                *(["--no-ablations"] if args.no_ablations else []),
                *([f"--out {args.out}"] if Path(args.out) != RESULTS / "quality.json" else []),
            ]
        ),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    _print_tables(runs)


def _print_tables(runs: dict[str, list[dict[str, Any]]]) -> None:
    full = runs["full system"]
    print("\nFull system per seed\n")
    print("| seed | " + " | ".join(HEADLINE) + " |")
    print("|---" * (len(HEADLINE) + 1) + "|")
    for r in full:
        print(f"| {r['seed']} | " + " | ".join(f"{r[k]:.4f}" for k in HEADLINE) + " |")
    schemes = sorted(full[0]["recall_by_scheme"])
    print("\nRecall per scheme (full system)\n")
    print("| seed | " + " | ".join(schemes) + " |")
    print("|---" * (len(schemes) + 1) + "|")
    for r in full:
        print(
            f"| {r['seed']} | "
            + " | ".join(f"{r['recall_by_scheme'].get(s, float('nan')):.3f}" for s in schemes)
            + " |"
        )
    print("\nBaselines and ablations (median over seeds)\n")
    cols = (
        "average_precision",
        "precision",
        "recall",
        "min_scheme_recall",
        "honest_flagged_share",
        "fraud_payout_withheld_share",
        "honest_payout_withheld_share",
        "creator_precision",
        "creator_recall",
    )
    print("| variant | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, results in runs.items():
        print(
            f"| {name} | "
            + " | ".join(f"{statistics.median(r[c] for r in results):.4f}" for c in cols)
            + " |"
        )


if __name__ == "__main__":
    main()
