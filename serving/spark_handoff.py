"""Handing a large detection run to Spark: the period's events out as Parquet, the verdicts back in.

The service runs the entry layer's Spark command (``ServiceConfig.spark_submit``, by
default ``python -m cpeguard.spark_submit``) as a child process against the configured
master, with the run's own scorer pickled beside the inputs, so that the cluster decides
with exactly the thresholds and fitted state the run records. A failure raises: the run
is marked failed and nothing is paid from it.
"""

from __future__ import annotations

import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from detectors.model import WindowScorer
from detectors.registry import unavailable_signals
from detectors.scorer import ScoredWindow
from serving.io import write_parquet

_ERROR_TAIL = 2000  # characters of the Spark run's stderr kept in the run's error


@dataclass(frozen=True)
class SparkHandoff:
    """Where and from what size detection runs are scored on Spark."""

    master: str
    from_events: int
    command: tuple[str, ...]

    def takes(self, n_events: int) -> bool:
        """Whether a run of ``n_events`` events goes to Spark."""
        return n_events >= self.from_events

    def score(
        self,
        raw: pd.DataFrame,
        events: pd.DataFrame,
        *,
        campaigns: pd.DataFrame,
        scorer: WindowScorer,
        work: Path,
        history: pd.DataFrame | None = None,
        known: pd.DataFrame | None = None,
    ) -> ScoredWindow:
        """The run's window scored on Spark: ``raw`` contract events in, verdicts as ``score`` gives them.

        ``history`` (clean events around the period) is context and ``known`` the subjects earlier
        runs and reviews established, as the run reads them in this process (``detectors.history``,
        ``detectors.reputation``): Spark joins both per shard.
        """
        work.mkdir(parents=True, exist_ok=True)
        write_parquet(raw, work / "events.parquet")
        with (work / "scorer.pkl").open("wb") as file:
            pickle.dump(scorer, file)
        command = [*self.command, "--events", str(work / "events.parquet"), "--out", str(work / "out")]
        command += ["--master", self.master, "--scorer-file", str(work / "scorer.pkl")]
        if len(campaigns):
            write_parquet(campaigns, work / "campaigns.parquet")
            command += ["--campaigns", str(work / "campaigns.parquet")]
        if history is not None and len(history):
            write_parquet(history.drop(columns=["source_row"], errors="ignore"), work / "history.parquet")
            command += ["--history", str(work / "history.parquet")]
        if known is not None and len(known):
            write_parquet(known, work / "known.parquet")
            command += ["--known-file", str(work / "known.parquet")]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the Spark run failed ({done.returncode}): {done.stderr[-_ERROR_TAIL:]}")
        return spark_window(work / "out", events)


def spark_window(out: Path, events: pd.DataFrame) -> ScoredWindow:
    """A Spark run's outputs as a scored window; each engagement gets the ``ts`` of its event's first row."""
    engagements = pd.read_parquet(out / "engagements.parquet").drop(columns=["shard"])
    first = events.drop_duplicates("event_id").set_index(events["event_id"].drop_duplicates().astype("str"))
    engagements["ts"] = first["ts"].reindex(engagements["event_id"].astype("str")).to_numpy()
    return ScoredWindow(
        engagements=engagements,
        posts=pd.read_parquet(out / "posts.parquet").drop(columns=["shard"]),
        accounts=pd.read_parquet(out / "accounts.parquet").drop(columns=["shard"]),
        detections=(),
        unavailable_signals=unavailable_signals(events),
    )
