"""Quality by window size and audience structure: precision, recall and money, with ablations.

Usage: python -m benchmarks.quality_by_size [--seeds 3] [--sizes 5k,50k,500k] [--large]
                                            [--structures plain,communities=2,studios+giveaways]
                                            [--ablations [chance,floors,studio_id,detectors]]
                                            [--variant "label:name=value;name=value"]...
                                            [--out FILE]

Each window holds every scheme and honest oddity of the simulator, plus the
structure's audiences (benchmarks/windows.py). Per window and variant it
reports precision, recall, recall per scheme, the share of fraud money
withheld and of honest money withheld (and held). Variants: the full system;
with --ablations (all, or those named): ``chance``, the old chance models (one
well-mixed audience per platform), ``floors``, no effect-size floor, both as
overrides of the parameter tree (``ABLATIONS``); ``studio_id``, the posts
without ``studio_id``; ``detectors``, each group test disabled in turn. Each
--variant sets ScoringParams knobs by their ``get_params`` names. Decisions use
the development seeds 3-8; the final table is run once on the held-out seeds
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
# Ablations of the chance models and floors, as overrides of the parameter tree (detectors/params.py)
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    # insularity never exceeds 1, so no community is an audience: every platform is one well-mixed
    # audience of its creator units (the pool test's cover rule then has nothing to judge)
    "chance": (
        "old chance models",
        {"audience__min_insularity": 1.01, "audience__pool_min_insularity": 1.01},
    ),
    # significance alone: no floor on how many times chance, nor on each member's share in the group
    "floors": (
        "no effect-size floor",
        {
            "detectors__pool__min_lift": 0.0,
            "detectors__pool__min_member_share": 0.0,
            "detectors__dense_block__min_lift": 0.0,
            "detectors__ring__min_account_focus": 0.0,
        },
    ),
}
ABLATION_NAMES = ("chance", "floors", "studio_id", "detectors")
COLUMNS = (
    "precision",
    "recall",
    "fraud_payout_withheld_share",
    "honest_payout_withheld_share",
    "honest_payout_held_share",
    "honest_flagged_share",
)

Variant = Callable[[Window], ScoredWindow]


def variants(*, ablations: str, custom: list[str]) -> dict[str, Variant]:
    """Return the scoring variants by label: the full system, the named ablations, custom knob settings.

    ``ablations`` is a comma-separated list of ``ABLATION_NAMES`` ("all": every one; "": none).
    """
    full = ScoringParams()
    out: dict[str, Variant] = {"full system": _scoring(full)}
    chosen = _ablation_names(ablations)
    for name in chosen:
        if name in ABLATIONS:
            label, knobs = ABLATIONS[name]
            out[label] = _scoring(full.set_params(**knobs))
    if "studio_id" in chosen:
        out["no studio_id"] = lambda w: score(w, full, posts=w.sim.posts.drop(columns=["studio_id"]))
    if "detectors" in chosen:
        for name in ABLATED_DETECTORS:
            out[f"without {name}"] = _scoring(ScoringParams(disabled=frozenset({name})))
    for text in custom:
        label, knobs = parse_variant(text)
        out[label] = _scoring(full.set_params(**knobs))
    return out


def _scoring(params: ScoringParams) -> Variant:
    """The variant that scores a window with ``params``."""
    return lambda window: score(window, params)


def _ablation_names(text: str) -> list[str]:
    names = list(ABLATION_NAMES) if text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ABLATION_NAMES))
    if unknown:
        raise SystemExit(f"--ablations: unknown {', '.join(unknown)} (known: {', '.join(ABLATION_NAMES)})")
    return names


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
        "--ablations",
        nargs="?",
        const="all",
        default="",
        help=f"all, or some of {','.join(ABLATION_NAMES)} (see ABLATIONS)",
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
        + (f" --ablations {args.ablations}" if args.ablations else "")
        + "".join(f" --variant '{v}'" for v in args.variant),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    print_tables(runs)
    if len(runs) > 1:
        print_comparison(runs)


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


def print_comparison(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Print one row per size and structure: each variant's precision, recall and money (means over seeds)."""
    labels = list(runs)
    print("\nPrecision / recall / fraud money / honest money withheld, per variant (mean over seeds)\n")
    print("| size | structure | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 2) + "|")
    cells = {label: _cells(results) for label, results in runs.items()}
    for key in cells[labels[0]]:
        values = []
        for label in labels:
            group = cells[label].get(key, [])
            mean = {c: statistics.mean(r[c] for r in group) if group else float("nan") for c in COLUMNS}
            values.append(
                f"{mean['precision']:.3f} / {mean['recall']:.3f} / "
                f"{mean['fraud_payout_withheld_share']:.1%} / {mean['honest_payout_withheld_share']:.2%}"
            )
        print(f"| {key[0]} | {key[1]} | " + " | ".join(values) + " |")


def _cells(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        cells.setdefault((r["size"], r["structure"]), []).append(r)
    return cells


if __name__ == "__main__":
    main()
