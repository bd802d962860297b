"""How many history engagements condensed history keeps, by reason, in the cost world.

Usage: python -m benchmarks.history_kept [--current 250000] [--history-factor 3]
                                         [--caps 8,16,32,64] [--out FILE]

The world of ``benchmarks.history --cost`` (seed 3, its oldest events the
history) is prepared as a run keeps it (``prepared_history``, condensed), and
the window's reasons to keep each history engagement are counted
(``detectors.lookback.kept_by_reason``): evidence, the last day, re-counts
(read by every detector that reads history) and the honest context, the
window's accounts and the hashed sample (read by ``context_for``'s detectors
only). For each cap of ``context_rows_per_account`` it reports how many context
rows stay. Writes benchmarks/results/history_kept.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks.windows import seeds
from detectors.history import window_of
from detectors.lookback import RECENCY_COLUMN, kept_by_reason
from detectors.params import ScoringParams
from detectors.scorer.history import prepared_history
from features.contract import clean_events
from training.simulator import SimConfig, simulate

RESULTS = Path(__file__).parent / "results"
CORE = ("evidence", "last_days", "recounts")
CONTEXT = ("window_accounts", "sample")


def kept_shares(args: argparse.Namespace) -> dict[str, Any]:
    """Rows kept per reason (alone and first in order), and the context under each cap."""
    n_total = args.current * (1 + args.history_factor)
    sim = simulate(SimConfig(seed=3, scale=n_total / 100_000 * 1.1))
    events = clean_events(sim.events, source="cost world").frame.sort_values("ts", ignore_index=True)
    events = events.iloc[-n_total:]
    history, current = events.iloc[: n_total - args.current], events.iloc[n_total - args.current :]
    params = ScoringParams().set_params(history__mode="condensed", history__context_rows_per_account=1)
    started = time.perf_counter()
    prepared = prepared_history(history, params=params, posts=sim.posts)
    prepare_s = time.perf_counter() - started
    reasons = kept_by_reason(prepared, window_of(current), params=params.history)
    n = len(prepared)
    core = np.logical_or.reduce([reasons[name] for name in CORE])
    context = np.logical_or.reduce([reasons[name] for name in CONTEXT]) & ~core
    recency = prepared[RECENCY_COLUMN].to_numpy()
    return {
        "command": _command(args),
        "n_current_events": len(current),
        "n_history_engagements": n,
        "prepare_s": prepare_s,
        "share_by_reason": {name: float(mask.mean()) for name, mask in reasons.items()},
        "share_core": float(core.mean()),
        "share_context_only": float(context.mean()),
        "share_window_accounts_only": float((reasons["window_accounts"] & ~core & ~reasons["sample"]).mean()),
        "share_kept": float((core | context).mean()),
        "share_kept_by_cap": {
            str(cap): float((core | (context & (recency < cap))).mean()) for cap in args.caps
        },
        "context_rows_per_account": _per_account(prepared, context),
        "n_history": n,
    }


def _per_account(prepared: pd.DataFrame, context: npt.NDArray[np.bool_]) -> dict[str, float]:
    """Quantiles of the context rows per account that has any, and the heaviest tenth's share of them."""
    counts = np.bincount(prepared["user_id"].cat.codes.to_numpy()[context])
    counts = np.sort(counts[counts > 0])
    top = counts[-max(1, len(counts) // 10) :].sum() / max(1, counts.sum())
    quantiles = {f"q{int(q * 100)}": float(np.quantile(counts, q)) for q in (0.5, 0.9, 0.99) if len(counts)}
    return {"n_accounts": float(len(counts)), **quantiles, "heaviest_tenth_share": float(top)}


def _command(args: argparse.Namespace) -> str:
    caps = ",".join(str(cap) for cap in args.caps)
    return (
        f"python -m benchmarks.history_kept --current {args.current} --history-factor {args.history_factor}"
        f" --caps {caps}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--current", type=int, default=250_000)
    parser.add_argument("--history-factor", type=int, default=3)
    parser.add_argument("--caps", type=seeds, default=[8, 16, 32, 64], help="comma-separated caps")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    report = kept_shares(args)
    out = Path(args.out) if args.out else RESULTS / "history_kept.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
