"""What the review queue's samples add: open cases by kind and sample on the demo world.

Run: ``.venv/bin/python -m benchmarks.review_samples [--seed 0] [--scale 1.0]``.

A fresh SQLite home is filled as ``cpeguard demo serve`` fills it (simulated campaigns
registered, ingested and settled through the API, in-process) with the service's default case
policy (``ServiceConfig``: auto-decide below 5.00, audit share 0.02, uncertain share 0.10); the
cases are opened as the first queue view opens them. Counted: cases by kind, status and sample
kind, with their money, and the pools the samples drew from: policy-decided account cases near
the cut and away from it, and unflagged engaging accounts near it. Written to
``benchmarks/results/review_samples.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cpeguard.demo import fill_demo_home
from detectors.policy import near_cut
from serving.config import ServiceConfig
from serving.db.engine import make_engine
from serving.db.models import ReviewCase
from serving.db.repositories import Repositories
from serving.review.account_cases import account_stakes, settlement_verdicts, uncertain_unflagged

RESULTS = Path(__file__).resolve().parent / "results" / "review_samples.json"


def count_cases(config: ServiceConfig) -> list[dict[str, Any]]:
    """Cases by kind, status and sample kind (``flagged`` for none), with their money."""
    engine = make_engine(config.resolved_database_url)
    try:
        db = Repositories.over(engine)
        with db.cases.session() as session:
            rows = session.execute(
                select(
                    ReviewCase.kind,
                    ReviewCase.status,
                    ReviewCase.sample,
                    ReviewCase.sampled_with_probability,
                    func.count(),
                    func.sum(ReviewCase.held_amount),
                ).group_by(
                    ReviewCase.kind, ReviewCase.status, ReviewCase.sample, ReviewCase.sampled_with_probability
                )
            ).all()
    finally:
        engine.dispose()
    return [
        {
            "kind": str(kind),
            "status": str(status),
            "sample": str(sample) if sample else "flagged",
            "probability": probability,
            "cases": int(n),
            "money": f"{money:.2f}",
        }
        for kind, status, sample, probability, n, money in sorted(rows, key=lambda r: (str(r[0]), str(r[1])))
    ]


def policy_strata(services: Any, config: ServiceConfig) -> dict[str, int]:
    """Account cases policy would decide, near the cut and not (the uncertain and audit strata), and
    the engaging accounts near the cut the run did not flag (the uncertain stratum's lower half)."""
    near_total, far_total, unflagged = 0, 0, 0
    with services.db.cases.session() as session:
        settlement_ids = sorted(set(session.scalars(select(ReviewCase.settlement_id))))
    for settlement_id in settlement_ids:
        verdicts = settlement_verdicts(
            settlement_id,
            settlements=services.db.settlements,
            campaigns=services.db.campaigns,
            detection=services.detection,
        )
        if verdicts is None:
            continue
        stakes = account_stakes(verdicts)
        decidable = (stakes["releasable"] <= 0).to_numpy() & (
            stakes["at_stake"] < config.review_auto_decide_below
        ).to_numpy()
        near = near_cut(stakes["risk"].to_numpy(), verdicts.invalid_risk)
        near_total += int((decidable & near).sum())
        far_total += int((decidable & ~near).sum())
        unflagged += len(uncertain_unflagged(verdicts))
    return {"near_cut": near_total, "away_from_cut": far_total, "unflagged_near_cut": unflagged}


def main() -> None:
    """Fill a demo home, open its cases and write the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = ServiceConfig(home=Path(tmp) / "home")
        demo = fill_demo_home(config, seed=args.seed, scale=args.scale)
        from fastapi.testclient import TestClient

        from serving.app import create_app

        with TestClient(create_app(config)) as client:
            client.app.state.review.cases.sync()  # type: ignore[attr-defined]  # as the first queue view
            strata = policy_strata(client.app.state.services, config)  # type: ignore[attr-defined]
        counts = count_cases(config)
    result = {
        "command": f"python -m benchmarks.review_samples --seed {args.seed} --scale {args.scale}",
        "n_events": demo.n_events,
        "n_campaigns": demo.n_campaigns,
        "policy": {
            "review_auto_decide_below": config.review_auto_decide_below,
            "review_sample_share": config.review_sample_share,
            "review_uncertain_share": config.review_uncertain_share,
        },
        "policy_decidable_account_cases": strata,
        "cases": counts,
        "machine": platform.platform(),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for row in counts:
        print(row)


if __name__ == "__main__":
    main()
