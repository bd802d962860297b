"""Quality by window size and audience structure: precision, recall and money, with ablations.

Usage: python -m benchmarks.quality_by_size [--seeds 3] [--sizes 5k,50k,500k] [--large]
                                            [--structures plain,communities=2,studios+giveaways]
                                            [--ablations] [--variant "label:name=value;name=value"]...
                                            [--out FILE]

Each window holds every scheme and honest oddity of the simulator, plus the
structure's audiences (benchmarks/windows.py). Per window and variant it
reports precision, recall, recall per scheme, the share of fraud money
withheld and of honest money withheld (and held). Variants: the full system;
with --ablations each group test disabled in turn and the posts without
``studio_id``; each --variant sets ScoringParams knobs by their ``get_params``
names (e.g. an old chance model or no effect-size floor). Decisions use the
development seeds 3-8; the final table is run once on the held-out seeds
9201-9203. Writes benchmarks/results/quality_by_size.json.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.windows import LARGE_SIZES, Window, make_window, parse_variant, score, seeds, window_arguments
from detectors.params import ScoringParams
from detectors.scorer import ScoredWindow
from training.evaluation import evaluate

RESULTS = Path(__file__).parent / "results"
STRUCTURES = ("plain", "communities=2", "studios+giveaways")
ABLATED_DETECTORS = ("pool", "ring", "dense_block", "lockstep", "ip_farm", "device_farm")
COLUMNS = (
    "precision",
    "recall",
    "fraud_payout_withheld_share",
    "honest_payout_withheld_share",
    "honest_payout_held_share",
    "honest_flagged_share",
)

Variant = Callable[[Window], ScoredWindow]


def variants(*, ablations: bool, custom: list[str]) -> dict[str, Variant]:
    """Return the scoring variants by label: the full system, ablations, custom knob settings."""
    full = ScoringParams()
    out: dict[str, Variant] = {"full system": lambda w: score(w, full)}
    if ablations:
        for name in ABLATED_DETECTORS:
            params = ScoringParams(disabled=frozenset({name}))
            out[f"without {name}"] = lambda w, p=params: score(w, p)
        out["no studio_id"] = lambda w: score(w, full, posts=w.sim.posts.drop(columns=["studio_id"]))
    for text in custom:
        label, knobs = parse_variant(text)
        params = full.set_params(**knobs)
        out[label] = lambda w, p=params: score(w, p)
    return out


def measure(window: Window, run: Variant) -> dict[str, Any]:
    """Return the quality metrics of one variant on one window."""
    started = time.perf_counter()
    scored = run(window)
    seconds = time.perf_counter() - started
    metrics = evaluate(
        engagements=scored.engagements,
        posts=scored.posts,
        accounts=scored.accounts,
        truth_events=window.sim.truth_events,
        truth_creators=window.sim.truth_creators,
    )
    honest = ~scored.engagements["event_id"].isin(
        window.sim.truth_events.loc[window.sim.truth_events["invalid"], "event_id"]
    )
    reasons = scored.engagements.loc[honest & scored.engagements["invalid"], "reason"].astype(str)
    return {
        "seed": window.seed,
        "size": window.size,
        "structure": window.structure,
        "n_engagements": metrics["n_events"],
        **{k: metrics[k] for k in COLUMNS},
        "recall_by_scheme": metrics["recall_by_scheme"],
        "creator_precision": metrics["creator_precision"],
        "creator_recall": metrics["creator_recall"],
        "honest_invalid_by_reason": {str(k): int(v) for k, v in reasons.value_counts().items()},
        "score_seconds": seconds,
    }


def main() -> None:
    parser = window_arguments(__doc__, structures=STRUCTURES)
    parser.add_argument(
        "--ablations", action="store_true", help="disable each group test in turn; drop studio_id"
    )
    parser.add_argument("--variant", action="append", default=[], help='"label:name=value;name=value"')
    parser.add_argument("--out", default=str(RESULTS / "quality_by_size.json"))
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s] + (list(LARGE_SIZES) if args.large else [])
    runs: dict[str, list[dict[str, Any]]] = {}
    chosen = variants(ablations=args.ablations, custom=args.variant)
    for size in sizes:
        for structure in args.structures.split(","):
            for seed in seeds(args.seeds):
                window = make_window(seed, size, structure, honest_only=False)
                for label, run in chosen.items():
                    result = measure(window, run)
                    runs.setdefault(label, []).append(result)
                    print(
                        f"{size} {structure} seed {seed} [{label}]: precision {result['precision']:.4f}, "
                        f"recall {result['recall']:.4f}, honest money withheld "
                        f"{result['honest_payout_withheld_share']:.3%} ({result['score_seconds']:.0f} s)",
                        flush=True,
                    )
    RESULTS.mkdir(exist_ok=True)
    report = {
        "command": "python -m benchmarks.quality_by_size "
        + f"--seeds {args.seeds} --sizes {','.join(sizes)} --structures {args.structures}"
        + (" --ablations" if args.ablations else "")
        + "".join(f" --variant '{v}'" for v in args.variant),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    print_tables(runs)


def print_tables(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Print each variant's mean metrics per size and structure, and the full system's recall per scheme."""
    for label, results in runs.items():
        print(f"\n{label} (mean over seeds)\n")
        print("| size | structure | engagements | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 3) + "|")
        for (size, structure), group in _cells(results).items():
            n = statistics.mean(r["n_engagements"] for r in group)
            values = " | ".join(f"{statistics.mean(r[c] for r in group):.4f}" for c in COLUMNS)
            print(f"| {size} | {structure} | {n:,.0f} | {values} |")
    full = runs.get("full system", [])
    schemes = sorted({s for r in full for s in r["recall_by_scheme"]})
    print("\nRecall per scheme, full system (mean over seeds)\n")
    print("| size | structure | " + " | ".join(schemes) + " |")
    print("|---" * (len(schemes) + 2) + "|")
    for (size, structure), group in _cells(full).items():
        recalls = [
            statistics.mean(r["recall_by_scheme"].get(s, float("nan")) for r in group) for s in schemes
        ]
        print(f"| {size} | {structure} | " + " | ".join(f"{v:.3f}" for v in recalls) + " |")


def _cells(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        cells.setdefault((r["size"], r["structure"]), []).append(r)
    return cells


if __name__ == "__main__":
    main()
