"""Behaviour fingerprint: digests of what `cpeguard score` writes on the development seeds.

Usage: python -m benchmarks.output_hash [--seeds 3,4,5,6,7,8,11,12,13,14,15,16] [--scale 1.0]
                                        [--history-weeks N] [--out FILE] [--check FILE]

Simulates each seed, runs the real command line (`cpeguard score` as a subprocess,
with the posts and campaigns files) and digests each output file's rows in a
canonical form (rows sorted by their key, floats to the bit), so the digest
changes exactly when a verdict, an amount, a reason or an evidence sentence
changes. A refactor that keeps behaviour must leave every digest as it was:
`--check benchmarks/results/output_hashes.json` compares a new run with a
recorded one and exits 1 naming the seed and file that differ.

`--history-weeks N` scores a multi-week world's last week with the N weeks before it
as `--history`, twice: the history joined whole (``history__mode`` "exact") and read
from a history state (``--history-state``, "condensed"); the digests are per mode.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from training.simulator import SimConfig, simulate, write_simulated_set

RESULTS = Path(__file__).parent / "results"
WEEK = pd.Timedelta(days=7)
DEV_SEEDS = "3,4,5,6,7,8,11,12,13,14,15,16"
SORT_KEYS = {
    "engagements": ["event_id"],
    "posts": ["campaign_id", "post_id"],
    "accounts": ["role", "account_id"],
    "rejects": ["source_file", "source_row", "column"],
}


def frame_digest(frame: pd.DataFrame, keys: list[str]) -> str:
    """SHA-256 of a frame's rows in key order, columns by name, every value as text or float bits."""
    frame = frame[sorted(frame.columns)].copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype) or frame[column].dtype == object:
            frame[column] = frame[column].astype("str")
    keys = [k for k in keys if k in frame.columns]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame
    digest = hashlib.sha256(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def score_seed(seed: int, scale: float, work: Path) -> dict[str, str]:
    """Digests of the four outputs of `cpeguard score` on one simulated seed."""
    sim_dir, out_dir = work / f"sim{seed}", work / f"out{seed}"
    write_simulated_set(simulate(SimConfig(seed=seed, scale=scale)), sim_dir)
    return _digests(_score(sim_dir, sim_dir / "events.parquet", out_dir))


def score_with_history(seed: int, scale: float, work: Path, *, weeks: int) -> dict[str, str]:
    """Digests of `cpeguard score` of a multi-week world's last week with ``weeks`` weeks of history,
    per ``history__mode`` ("exact/engagements", ..., "condensed/engagements", ...)."""
    sim_dir = work / f"sim{seed}"
    write_simulated_set(simulate(SimConfig(seed=seed, scale=scale, multi_week=True)), sim_dir)
    events = pd.read_parquet(sim_dir / "events.parquet")
    ts = pd.to_datetime(events["ts"], utc=True, format="mixed")
    end = ts.max() - WEEK
    events.loc[(ts > end).to_numpy()].to_parquet(sim_dir / "current.parquet", index=False)
    past = ((ts <= end) & (ts > end - WEEK * weeks)).to_numpy()
    events.loc[past].to_parquet(sim_dir / "history.parquet", index=False)
    out = {}
    for mode in ("exact", "condensed"):
        extra = ["--history", str(sim_dir / "history.parquet")]
        if mode == "condensed":
            extra += ["--history-state", str(work / f"state{seed}")]
        knobs = json.dumps({"history__mode": mode})
        scored = _score(sim_dir, sim_dir / "current.parquet", work / f"out{seed}{mode}", extra, knobs=knobs)
        out.update({f"{mode}/{name}": digest for name, digest in _digests(scored).items()})
    return out


def _score(
    sim_dir: Path, events: Path, out_dir: Path, extra: list[str] | None = None, knobs: str = "{}"
) -> Path:
    """``out_dir`` after `cpeguard score` of ``events`` with the set's posts and campaigns."""
    command = [
        str(Path(sys.executable).with_name("cpeguard")),
        "score",
        "--events",
        str(events),
        "--posts",
        str(sim_dir / "posts.parquet"),
        "--campaigns",
        str(sim_dir / "campaigns.parquet"),
        "--out",
        str(out_dir),
        *(extra or []),
    ]
    env = {**os.environ, "CPEGUARD_SCORING_PARAMS": knobs}
    subprocess.run(command, check=True, capture_output=True, env=env)
    return out_dir


def _digests(out_dir: Path) -> dict[str, str]:
    return {
        name: frame_digest(pd.read_parquet(out_dir / f"{name}.parquet"), keys)
        for name, keys in SORT_KEYS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default=DEV_SEEDS)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--history-weeks", type=int, default=0, help="score a multi-week world with history")
    parser.add_argument("--out", default=str(RESULTS / "output_hashes.json"))
    parser.add_argument("--check", default=None, help="a recorded results file to compare with")
    args = parser.parse_args()
    digests: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.perf_counter()
            digests[str(seed)] = (
                score_with_history(seed, args.scale, Path(tmp), weeks=args.history_weeks)
                if args.history_weeks
                else score_seed(seed, args.scale, Path(tmp))
            )
            print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    report = {
        "command": f"python -m benchmarks.output_hash --seeds {args.seeds} --scale {args.scale}"
        + (f" --history-weeks {args.history_weeks}" if args.history_weeks else ""),
        "commit": commit.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "digests": digests,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.check is None:
        return
    recorded = json.loads(Path(args.check).read_text())
    differ = [
        f"seed {seed} {name}"
        for seed, files in digests.items()
        for name, digest in files.items()
        if recorded["digests"].get(seed, {}).get(name) != digest
    ]
    if differ:
        print(f"outputs differ from {args.check} (commit {recorded['commit']}): " + ", ".join(differ))
        sys.exit(1)
    print(f"identical to {args.check} (commit {recorded['commit']}) on {len(digests)} seeds")


if __name__ == "__main__":
    main()
