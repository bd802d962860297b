"""Honest money held, measured from the written files with and without ``engagements.held``.

Usage: python -m benchmarks.held_from_files [--seeds 3,4,5,6,7,8] [--scale 0.05] [--out FILE]

Per seed: simulate, score cold, write the outputs as ``cpeguard score`` does
(``serving.io.write_scored``), read them back and evaluate twice: with the
``held`` column (what waits, per engagement) and without it (an evaluator of
files written before the column: every valid engagement of a ``hold`` post
counted as held). The difference is what reading the files used to overstate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from detectors.model import WindowScorer
from features.contract import clean_campaigns, clean_events
from serving.io import write_scored
from training.evaluation import evaluate
from training.simulator import SimConfig, simulate


def held_shares(seed: int, scale: float) -> dict[str, Any]:
    """One seed's written window evaluated with and without its ``held`` column."""
    sim = simulate(SimConfig(seed=seed, scale=scale))
    events = clean_events(sim.events, source="events").frame
    scored = WindowScorer().score(events, campaigns=clean_campaigns(sim.campaigns, source="campaigns").frame)
    with tempfile.TemporaryDirectory(prefix="held_from_files_") as folder:
        out = Path(folder)
        write_scored(scored, out)
        engagements = pd.read_parquet(out / "engagements.parquet")
        posts = pd.read_parquet(out / "posts.parquet")
        accounts = pd.read_parquet(out / "accounts.parquet")
    truth = {"truth_events": sim.truth_events, "truth_creators": sim.truth_creators}
    shared = {"posts": posts, "accounts": accounts, **truth}
    with_held = evaluate(engagements=engagements, **shared)
    without = evaluate(engagements=engagements.drop(columns="held"), **shared)
    return {
        "seed": seed,
        "n_engagements": len(engagements),
        "held_engagements": int(engagements["held"].sum()),
        "hold_posts": int((posts["decision"] == "hold").sum()),
        "honest_payout_held_share": with_held["honest_payout_held_share"],
        "honest_payout_held_share_whole_posts": without["honest_payout_held_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="3,4,5,6,7,8")
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = [held_shares(int(seed), args.scale) for seed in args.seeds.split(",")]
    result = {
        "scale": args.scale,
        "seeds": rows,
        "median_held_share": statistics.median(r["honest_payout_held_share"] for r in rows),
        "median_held_share_whole_posts": statistics.median(
            r["honest_payout_held_share_whole_posts"] for r in rows
        ),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
