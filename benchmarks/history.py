"""Quality of the last week of a multi-week world by history depth (0, 1, 3 weeks), and its cost.

Usage: python -m benchmarks.history [--seeds 3] [--scale 0.65] [--depths 0,1,3] [--multi-week]
                                    [--communities 2] [--studios] [--giveaways] [--honest-only]
                                    [--variant "label:name=value"] [--reputation] [--reviews]
                                    [--out FILE]
       python -m benchmarks.history --cost [--current 1000000] [--history-factor 3] [--repeats 1] [--stages]
                                           [--prepared] [--prepared-variant "label:name=value"]
                                           [--state] [--state-variant "label:name=value"]
                                           [--skip-joined] [--baseline OTHER_CHECKOUT]

A world is simulated (``--multi-week``: sellers keep their account pools
across weeks and serve different clients each week, a few orders each); its
last week is the window, scored alone (depth 0, the ablation without history)
and with the 1 and 3 weeks before it as history. Per depth it reports
precision, recall, recall per scheme and the money withheld, on the last
week's engagements only. ``--reputation`` scores each depth again with what
the weekly runs before the last week confirmed (accounts, farm devices and IPs,
seller groups; ``detectors.memory``), read as the service reads it: a run's
confirmation only before the window's history. ``--reviews`` adds a truthful
reviewer's verdict on every account those runs flagged (read
whatever the history). ``--cost`` times scoring ``--current`` events alone
against scoring them with ``--history-factor`` times as many history events
(slices of one large world: the oldest events are the history), each timing a fresh process with its
peak RSS, with the shares of history a cut around the window's accounts and posts would keep;
``--prepared`` adds scoring with the history prepared by an earlier run (``benchmarks.history_cost``);
``--state`` adds reading a history state an earlier run kept (``serving.history_state``) and
scoring with it; ``--stages`` adds seconds per detector. Writes
benchmarks/results/history.json (``--cost``: history_cost.json).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.history_cost import add_cost_arguments, cost
from benchmarks.quality_by_size import COLUMNS
from benchmarks.windows import parse_variant, seeds
from detectors.memory import confirmed_subjects
from detectors.params import ScoringParams
from detectors.reputation import CLEARED, CONFIRMED, ENTRY_COLUMNS, known_for
from detectors.scorer import score_window
from features.contract import clean_events
from serving.config import ServiceConfig
from training.evaluation import evaluate
from training.simulator import SimConfig, simulate

RESULTS = Path(__file__).parent / "results"
WEEK = pd.Timedelta(days=7)
# a multi-week world's weeks (``SimConfig(multi_week=True)``): the last is scored, the others remembered
N_WEEKS = 4
# the service's default (``serving.config.ServiceConfig.reputation_half_life_days``)
HALF_LIFE_DAYS: float = ServiceConfig.reputation_half_life_days


def slices(
    events: pd.DataFrame, depth_weeks: int, *, weeks_back: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A week of ``events`` (the last one, or ``weeks_back`` before it) and the ``depth_weeks`` weeks
    before that week."""
    end = events["ts"].max() - WEEK * weeks_back
    current = events.loc[((events["ts"] > end - WEEK) & (events["ts"] <= end)).to_numpy()]
    start = end - WEEK * (1 + depth_weeks)
    history = events.loc[((events["ts"] > start) & (events["ts"] <= end - WEEK)).to_numpy()]
    return current, history


def remembered(
    sim: Any, events: pd.DataFrame, depth: int, params: ScoringParams, *, reviews: bool = False
) -> pd.DataFrame:
    """What weekly runs before the last week confirmed (``ENTRY_COLUMNS``): each earlier week scored
    with ``depth`` weeks of history, as the service's run of that week would be. ``reviews``: every
    account a run flagged is also judged by a reviewer who knows the truth (confirmed when any of
    its engagements that week was bought, else cleared), at the week's end."""
    parts = []
    for back in range(1, N_WEEKS):
        current, history = slices(events, depth, weeks_back=back)
        if current.empty:
            continue
        scored = score_window(
            current,
            posts=sim.posts,
            campaigns=sim.campaigns,
            params=params,
            history=history if depth else None,
        )
        confirmed = confirmed_subjects(scored, params=params)
        parts.append(confirmed.assign(state=CONFIRMED, source_kind="run", source_id=f"week-{back}"))
        if reviews:
            parts.append(_reviewed(sim, current, scored.accounts, source_id=f"review-week-{back}"))
    return pd.concat(parts, ignore_index=True)[list(ENTRY_COLUMNS)]


def _reviewed(sim: Any, current: pd.DataFrame, accounts: pd.DataFrame, *, source_id: str) -> pd.DataFrame:
    """A truthful reviewer's verdict on every engaging account flagged in the week ``current``."""
    flagged = accounts.loc[(accounts["role"] == "engager") & accounts["flagged"], "account_id"].astype(str)
    truth = sim.truth_events.set_index("event_id")["invalid"]
    bought = current.assign(bought=current["event_id"].map(truth).fillna(False).astype(bool))
    sellers = set(bought.loc[bought["bought"], "user_id"].astype(str))
    return pd.DataFrame(
        {
            "subject_kind": "account",
            "subject_id": flagged.to_numpy(),
            "platform": "",
            "state": [CONFIRMED if a in sellers else CLEARED for a in flagged],
            "established_at": current["ts"].max(),
            "source_kind": "case",
            "source_id": source_id,
            "detail": "",
        }
    )


def _known(entries: pd.DataFrame | None, current: pd.DataFrame, depth: int) -> pd.DataFrame | None:
    """What earlier runs confirmed before the current week, read as the service reads it."""
    if entries is None:
        return None
    start = current["ts"].min()
    return known_for(entries, start=start, context_start=start - WEEK * depth, half_life_days=HALF_LIFE_DAYS)


def measure(
    sim: Any,
    events: pd.DataFrame,
    depth: int,
    params: ScoringParams,
    *,
    entries: pd.DataFrame | None = None,
    memory: str = "none",
) -> dict[str, Any]:
    """Score the last week with ``depth`` weeks of history (and what earlier runs confirmed, read as the
    service reads it: ``detectors.reputation.known_for``); its quality on the last week's engagements."""
    whole = depth < 0
    current, history = slices(events, N_WEEKS - 1 if whole else depth)
    seen_twice = two_creator_share(current, history, sim.truth_events)
    if whole:
        # the whole period scored at once, judged on the last week's engagements
        current, history, depth = pd.concat([history, current]), current, 0
    known = _known(entries, current, depth)
    started = time.perf_counter()
    scored = score_window(
        current,
        posts=sim.posts,
        campaigns=sim.campaigns,
        params=params,
        history=history if depth else None,
        reputation=known,
    )
    seconds = time.perf_counter() - started
    truth = sim.truth_events
    if whole:
        last = scored.engagements["event_id"].isin(history["event_id"]).to_numpy()
        scored = replace(scored, engagements=scored.engagements.loc[last].reset_index(drop=True))
        current, history = history, history.iloc[:0]
    metrics = evaluate(
        engagements=scored.engagements,
        posts=scored.posts,
        accounts=scored.accounts,
        truth_events=truth.loc[truth["event_id"].isin(scored.engagements["event_id"])],
        truth_creators=sim.truth_creators,
    )
    eng = scored.engagements
    with_history = eng["evidence"].astype(str).str.contains("with history", regex=False)
    return {
        "depth_weeks": "whole period" if whole else depth,
        "reputation": memory,
        "n_current_events": len(current),
        "n_history_events": len(history) if depth else 0,
        "n_engagements": metrics["n_events"],
        "n_invalid": int(eng["invalid"].sum()),
        **{k: metrics[k] for k in COLUMNS},
        "average_precision": metrics["average_precision"],
        "recall_by_scheme": metrics["recall_by_scheme"],
        "two_creator_share_by_scheme": seen_twice,
        "n_judged_with_history": int(with_history.sum()),
        "history_evidence_examples": eng.loc[with_history, "evidence"].astype(str).unique()[:3].tolist(),
        **_known_summary(scored, known),
        "score_seconds": seconds,
    }


def two_creator_share(current: pd.DataFrame, history: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Per scheme: the share of its engagements in ``current`` whose account engaged two creators or more
    in ``current`` and ``history`` together.

    What a co-engagement test (``pool``, ``ring``, ``dense_block``) can see at most: an account seen on one
    creator in all the data, with a device and an address of its own and organic timing, looks like anyone
    who engaged that creator once. Infrastructure (``ip_farm``, ``device_farm``) and timing (``lockstep``)
    can still catch such accounts, so this bounds a scheme's recall only where those find nothing.
    """
    columns = ["user_id", "creator_id"]
    union = pd.concat([history[columns], current[columns]]).astype(str).drop_duplicates()
    creators = union.groupby("user_id").size()
    scheme = truth.set_index("event_id")["scheme"].astype(str).reindex(current["event_id"].astype(str))
    seen = creators.reindex(current["user_id"].astype(str)).fillna(0).to_numpy() >= 2
    frame = pd.DataFrame({"scheme": scheme.to_numpy(), "seen": seen})
    frame = frame.loc[frame["scheme"].ne("organic") & frame["scheme"].ne("nan")]
    return {str(k): round(float(v), 4) for k, v in frame.groupby("scheme")["seen"].mean().items()}


def _known_summary(scored: Any, known: pd.DataFrame | None) -> dict[str, Any]:
    """How much reputation the window read and used: subjects by kind, engagements it scored, and
    evidence sentences of invalid engagements whose strongest reason it is (most are invalid on
    structural evidence too: compare ``n_invalid`` with the run without reputation)."""
    if known is None:
        return {}
    seller = next(d for d in scored.detections if d.name == "known_seller")
    eng = scored.engagements
    by_known = eng["reason"].astype(str) == "known_seller"
    standing = known.loc[known["score"] > 0]
    return {
        "n_known_subjects": standing["subject_kind"].value_counts().to_dict(),
        "n_known_engagements": int((seller.event_score > 0).sum()),
        "n_invalid_reason_known_seller": int((by_known & eng["invalid"]).sum()),
        "known_evidence_examples": eng.loc[by_known, "evidence"].astype(str).unique()[:3].tolist(),
    }


def quality(args: argparse.Namespace) -> dict[str, Any]:
    """Quality of the last week per seed and history depth."""
    runs: list[dict[str, Any]] = []
    label, knobs = parse_variant(args.variant) if args.variant else ("full system", {})
    params = ScoringParams().set_params(**knobs)
    for seed in seeds(args.seeds):
        config = SimConfig(
            seed=seed,
            scale=args.scale,
            multi_week=args.multi_week,
            communities=args.communities,
            studios=args.studios,
            giveaways=args.giveaways,
        )
        sim = simulate(config.honest_only() if args.honest_only else config)
        events = clean_events(sim.events, source=f"seed {seed}").frame
        for depth in (-1 if d == "whole" else int(d) for d in args.depths.split(",")):
            memories: dict[str, pd.DataFrame | None] = {"none": None}
            if args.reputation:
                memories["runs"] = remembered(sim, events, depth, params)
            if args.reviews:
                memories["runs+reviews"] = remembered(sim, events, depth, params, reviews=True)
            for memory, entries in memories.items():
                found = measure(sim, events, depth, params, entries=entries, memory=memory)
                result = {"seed": seed, "variant": label, **found}
                runs.append(result)
                _print_run(result)
    return {
        "command": f"python -m benchmarks.history --seeds {args.seeds} --scale {args.scale} "
        f"--depths {args.depths}"
        + (" --multi-week" if args.multi_week else "")
        + (f" --communities {args.communities}" if args.communities > 1 else "")
        + (" --studios" if args.studios else "")
        + (" --giveaways" if args.giveaways else "")
        + (" --honest-only" if args.honest_only else "")
        + (f" --variant '{args.variant}'" if args.variant else "")
        + (" --reputation" if args.reputation else "")
        + (" --reviews" if args.reviews else ""),
        "runs": runs,
    }


def _print_run(result: dict[str, Any]) -> None:
    print(
        f"seed {result['seed']} depth {result['depth_weeks']} w"
        f" reputation {result['reputation']}: precision {result['precision']:.4f} recall "
        f"{result['recall']:.4f} AP {result['average_precision']:.4f} "
        f"honest withheld {result['honest_payout_withheld_share']:.3%} "
        f"fraud withheld {result['fraud_payout_withheld_share']:.3%} "
        f"schemes {json.dumps({k: round(v, 3) for k, v in result['recall_by_scheme'].items()})} "
        f"({result['score_seconds']:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="3")
    parser.add_argument("--scale", type=float, default=0.65)
    parser.add_argument("--depths", default="0,1,3")
    parser.add_argument("--multi-week", action="store_true")
    parser.add_argument("--communities", type=int, default=1, help="audience communities per platform")
    parser.add_argument("--studios", action="store_true")
    parser.add_argument("--giveaways", action="store_true")
    parser.add_argument(
        "--honest-only", action="store_true", help="every scheme off: what is flagged is honest"
    )
    parser.add_argument("--variant", default="", help='"label:name=value;name=value" ScoringParams knobs')
    parser.add_argument(
        "--reputation",
        action="store_true",
        help="also score each depth with what earlier weekly runs confirmed (the ablation: without it)",
    )
    parser.add_argument(
        "--reviews",
        action="store_true",
        help="also with every account the earlier runs flagged judged by a reviewer who knows the truth",
    )
    add_cost_arguments(parser)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.out is not None and Path(args.out).exists():
        parser.error(f"--out {args.out} exists: results files are never overwritten, name a new one")
    if args.baseline is not None and (not args.cost or args.stages):
        parser.error("--baseline times --cost runs only, and not with --stages")
    report = cost(args) if args.cost else quality(args)
    report["date"] = time.strftime("%Y-%m-%d")
    out = Path(args.out or RESULTS / ("history_cost.json" if args.cost else "history.json"))
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
