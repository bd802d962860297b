"""Dense-block search against a straightforward Python port of FRAUDAR, on the same graphs.

Usage: python benchmarks/dense_speed.py [--edges 600000] [--seeds 1,2,3]
Writes benchmarks/results/dense_speed.json and prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks.fraudar_reference import compare_speed

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edges", type=int, default=600_000)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        result = compare_speed(args.edges, seed)
        result["seed"] = seed
        runs.append(result)
        print(
            f"seed {seed}: reference {result['reference_s']:.2f} s, "
            f"vectorised {result['vectorised_s']:.2f} s ({result['speed_ratio']:.1f}x), "
            f"row Jaccard {result['row_jaccard']:.3f}",
            flush=True,
        )
    median = {key: statistics.median(float(r[key]) for r in runs) for key in runs[0] if key != "seed"}
    RESULTS.mkdir(exist_ok=True)
    report = {
        "command": f"python -m benchmarks.dense_speed --edges {args.edges} --seeds {args.seeds}",
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
        "median": median,
    }
    (RESULTS / "dense_speed.json").write_text(json.dumps(report, indent=2))
    print(
        "\n| edges | FRAUDAR port s | vectorised peeling s | speed-up | row Jaccard | full dense_blocks s |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {int(median['n_edges']):,} | {median['reference_s']:.2f} | {median['vectorised_s']:.2f} | "
        f"{median['speed_ratio']:.1f}x | {median['row_jaccard']:.3f} | {median['dense_blocks_s']:.2f} |"
    )


if __name__ == "__main__":
    main()
