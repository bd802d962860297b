"""Calibration benchmark: how much honest traffic each detector flags, per window size and audience.

Usage: python -m benchmarks.calibration [--seeds 3] [--sizes 5k,50k,500k] [--large]
                                        [--structures plain,communities=2,...]
                                        [--set name=value;name=value] [--out FILE]

Every window is honest only (every inflation scheme off), so whatever a detector
flags is a false positive. Per detector it reports the share of honest
engagements whose own score (after spreading to group accounts) reaches the
invalid cut (``flagged``), the share it is named the reason for (``reason``)
and its number of groups; per window the share of honest engagements made
invalid and of honest money withheld. Sizes: 5k, 50k and 500k events, and 5M
with --large (20M is possible with --sizes 20M, given about 20 GiB of memory).
Structures: one mixed audience per platform, two or three audience communities,
studios with shared fans and giveaways (benchmarks/windows.py). Decisions use
the development seeds 3-8; the final table is run on the held-out seeds
9201-9203. Writes benchmarks/results/calibration.json.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.windows import (
    LARGE_SIZES,
    STRUCTURES,
    Window,
    make_window,
    parse_variant,
    score,
    seeds,
    window_arguments,
)
from detectors.params import ScoringParams
from detectors.registry import DETECTORS
from training.evaluation import evaluate

RESULTS = Path(__file__).parent / "results"


def calibrate(window: Window, params: ScoringParams) -> dict[str, Any]:
    """Return what each detector flags on an honest-only window, and the honest money withheld."""
    started = time.perf_counter()
    scored = score(window, params)
    seconds = time.perf_counter() - started
    engagements = scored.engagements
    cut = params.policy.invalid_risk
    reason = engagements["reason"].astype(str).to_numpy()
    per_detector: dict[str, dict[str, float]] = {}
    for detection in scored.detections:
        flagged = detection.event_score >= cut
        per_detector[detection.name] = {
            "flagged": float(flagged.mean()) if len(flagged) else 0.0,
            "reason": float((reason == detection.name).mean()) if len(reason) else 0.0,
            "groups": len(detection.groups),
            "accounts": int(engagements.loc[flagged, "user_id"].nunique()),
        }
    metrics = evaluate(
        engagements=engagements,
        posts=scored.posts,
        accounts=scored.accounts,
        truth_events=window.sim.truth_events,
        truth_creators=window.sim.truth_creators,
    )
    return {
        "seed": window.seed,
        "size": window.size,
        "structure": window.structure,
        "n_engagements": len(engagements),
        "detectors": per_detector,
        "honest_flagged_share": metrics["honest_flagged_share"],
        "honest_payout_withheld_share": metrics["honest_payout_withheld_share"],
        "honest_payout_held_share": metrics["honest_payout_held_share"],
        "creators_flagged": metrics["creators_flagged"],
        "simulate_seconds": window.simulate_seconds,
        "score_seconds": seconds,
    }


def main() -> None:
    parser = window_arguments(__doc__, structures=tuple(STRUCTURES))
    parser.add_argument("--set", default="", help="scoring knobs, e.g. detectors__pool__max_fdr=0.01")
    parser.add_argument("--out", default=str(RESULTS / "calibration.json"))
    args = parser.parse_args()
    params = ScoringParams().set_params(**parse_variant(f"set:{args.set}")[1])
    sizes = [s for s in args.sizes.split(",") if s] + (list(LARGE_SIZES) if args.large else [])
    runs: list[dict[str, Any]] = []
    for size in sizes:
        for structure in args.structures.split(","):
            for seed in seeds(args.seeds):
                result = calibrate(make_window(seed, size, structure, honest_only=True), params)
                runs.append(result)
                print(
                    f"{size} {structure} seed {seed}: {result['n_engagements']:,} engagements, "
                    f"honest flagged {result['honest_flagged_share']:.3%}, honest money withheld "
                    f"{result['honest_payout_withheld_share']:.3%} ({result['score_seconds']:.0f} s)",
                    flush=True,
                )
    RESULTS.mkdir(exist_ok=True)
    report = {
        "command": "python -m benchmarks.calibration "
        + f"--seeds {args.seeds} --sizes {','.join(sizes)} --structures {args.structures}"
        + (f" --set '{args.set}'" if args.set else ""),
        "date": time.strftime("%Y-%m-%d"),
        "invalid_risk": params.policy.invalid_risk,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    print_table(runs)


def print_table(runs: list[dict[str, Any]]) -> None:
    """Print the mean share of honest engagements each detector flags, per size and structure."""
    names = [spec.name for spec in DETECTORS if any(spec.name in r["detectors"] for r in runs)]
    print("\nShare of honest engagements flagged (detector score >= invalid cut; mean over seeds)\n")
    header = ["size", "structure", *names, "invalid", "money withheld"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r["size"], r["structure"]), []).append(r)
    for (size, structure), group in cells.items():
        shares = [
            statistics.mean(r["detectors"].get(name, {}).get("flagged", np.nan) for r in group)
            for name in names
        ]
        invalid = statistics.mean(r["honest_flagged_share"] for r in group)
        withheld = statistics.mean(r["honest_payout_withheld_share"] for r in group)
        print(
            f"| {size} | {structure} | "
            + " | ".join(_percent(s) for s in shares)
            + f" | {_percent(invalid)} | {_percent(withheld)} |"
        )


def _percent(share: float) -> str:
    return "0" if share == 0 else f"{share:.3%}"


if __name__ == "__main__":
    main()
