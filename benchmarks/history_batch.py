"""What ``cpeguard score --history`` costs end to end, with and without a kept history state.

Usage: python -m benchmarks.history_batch [--current 200000] [--history-factor 3] [--repeats 3]
                                          [--out benchmarks/results/history_batch.json]

The cost world of ``benchmarks.history_cost`` (seed 3) is written as a window file and a history
file. Each timing is a fresh process (``--child MODE``) that runs ``serving.batch.run_batch`` as the
command line does (reading and cleaning the files, scoring, writing the outputs) and reports its wall
and CPU seconds and peak RSS (``VmHWM``, reset after imports). Modes, interleaved:

- ``alone``: the window without history;
- ``exact``: ``--history FILE``, the history parsed, cleaned and joined whole (the default rules);
- ``exact, state read``: ``--history FILE --history-state DIR`` with the state an earlier run kept;
- ``condensed``: rules with ``history__mode`` "condensed" and no state: the history is scored first
  to mark its evidence, every run (what a condensed run cost before states were kept);
- ``condensed, state read``: the same with the kept state.

The states are built once before the timings. Every mode's outputs are checked equal to its
no-state twin's (``benchmarks.output_hash.frame_digest``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
MODES = ("alone", "exact", "exact, state read", "condensed", "condensed, state read")


def _world(current: int, factor: int, folder: Path) -> dict[str, int]:
    """The window and history files of the cost world, and their sizes."""
    import pandas as pd

    from training.simulator import SimConfig, simulate

    total = current * (1 + factor)
    sim = simulate(SimConfig(seed=3, scale=total / 100_000 * 1.1))
    ts = pd.to_datetime(sim.events["ts"], utc=True, format="ISO8601")
    events = sim.events.iloc[np.argsort(ts.to_numpy(), kind="stable")[-total:]]
    events.iloc[total - current :].to_parquet(folder / "current.parquet", index=False)
    events.iloc[: total - current].to_parquet(folder / "history.parquet", index=False)
    sim.posts.to_parquet(folder / "posts.parquet", index=False)
    sim.campaigns.to_parquet(folder / "campaigns.parquet", index=False)
    return {"n_current_events": current, "n_history_events": total - current}


def child(mode: str, folder: Path) -> dict[str, Any]:
    """One ``run_batch`` in ``mode`` over the files in ``folder``; seconds, peak RSS, output digest."""
    from benchmarks.history_cost import _peak_rss_kib, _reset_peak_rss
    from benchmarks.output_hash import SORT_KEYS, frame_digest
    from detectors.model import WindowScorer
    from detectors.params import ScoringParams
    from serving.batch import run_batch

    condensed = mode.startswith("condensed")
    scorer = (
        WindowScorer(params=ScoringParams().set_params(history__mode="condensed"))
        if condensed
        else WindowScorer()
    )
    state = folder / ("state-condensed" if condensed else "state-exact") if "state" in mode else None
    _reset_peak_rss()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    result = run_batch(
        events_path=folder / "current.parquet",
        out_dir=folder / f"out-{mode}",
        posts_path=folder / "posts.parquet",
        campaigns_path=folder / "campaigns.parquet",
        scorer=scorer,
        history_paths=() if mode == "alone" else (folder / "history.parquet",),
        history_state=state,
    )
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_gib": _peak_rss_kib() / 2**20,
        "state": result.history_state.status if result.history_state is not None else "",
        "digest": frame_digest(result.scored.engagements, SORT_KEYS["engagements"]),
        "load_1m": load,
    }


def _run(mode: str, folder: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.history_batch", "--child", mode, "--data", str(folder)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every mode ``args.repeats`` times, interleaved, after building the two states once."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = _world(args.current, args.history_factor, folder)
        built = {mode: _run(mode, folder) for mode in MODES if "state" in mode}
        for _ in range(args.repeats):
            for mode in MODES:
                runs[mode].append(_run(mode, folder))
                print(f"{mode}: {json.dumps(runs[mode][-1])}", flush=True)
    medians = {
        key: {mode: float(np.median([r[key] for r in done])) for mode, done in runs.items()}
        for key in ("wall_s", "cpu_s", "peak_rss_gib")
    }
    return {
        "command": f"python -m benchmarks.history_batch --current {args.current} "
        f"--history-factor {args.history_factor} --repeats {args.repeats}",
        **sizes,
        "states_built": built,
        "runs": runs,
        "median": medians,
        "ratio_median": {
            key: {mode: medians[key][mode] / medians[key]["alone"] for mode in MODES[1:]}
            for key in ("wall_s", "cpu_s")
        },
        "same_outputs_with_state": {
            mode: {r["digest"] for r in runs[mode]} == {r["digest"] for r in runs[mode.split(",")[0]]}
            for mode in MODES
            if "state" in mode
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="cpeguard score --history end to end, with a kept state")
    parser.add_argument("--current", type=int, default=200_000)
    parser.add_argument("--history-factor", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=MODES)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path, default=RESULTS / "history_batch.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data)), flush=True)
        return
    report = {**measure(args), "date": time.strftime("%Y-%m-%d")}
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
