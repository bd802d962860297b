"""What cron calls weekly: take a lock, train every ISO week that has no run yet (backfill), gate each."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from training.pipeline import TrainingResult, run
from training.tracking import Tracker
from training.week_inputs import TrainingConfig, WeekData
from training.weeks import last_complete_week, weeks_between

LoadWeek = Callable[[str], WeekData]


class RetrainLocked(RuntimeError):
    """Another retrain holds the lock."""


@dataclass(frozen=True)
class RetrainOutcome:
    """The weeks trained (with their results) and the weeks skipped (with why)."""

    trained: tuple[TrainingResult, ...]
    skipped: tuple[tuple[str, str], ...]


@contextmanager
def retrain_lock(path: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on ``path`` (released when the process ends, even on a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RetrainLocked(f"another retrain holds {path} (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def weeks_to_train(
    *, done: set[str], now: datetime, max_backfill: int, force: bool, week: str | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """(weeks to train, oldest first; weeks skipped with the reason).

    The target is ``week`` or the last complete ISO week. Without ``force`` a week
    that already has a run is skipped; weeks after the latest week with a run and
    before the target are backfilled, at most ``max_backfill`` of them (newest kept).
    """
    target = week or last_complete_week(now)
    if force:
        return [target], []
    if target in done:
        return [], [(target, "the week already has a run (use --force to train it again)")]
    earlier = sorted(w for w in done if w < target)
    missed = weeks_between(earlier[-1], target)[1:-1] if earlier else []
    if max_backfill <= 0:
        return [target], [(w, "backfill is off") for w in missed]
    too_old = [(w, f"older than the {max_backfill} weeks backfilled") for w in missed[:-max_backfill]]
    return [*missed[-max_backfill:], target], too_old


def retrain(
    config: TrainingConfig,
    *,
    load_week: LoadWeek,
    lock_path: Path,
    now: datetime,
    force: bool = False,
    week: str | None = None,
    max_backfill: int = 8,
) -> RetrainOutcome:
    """Under the lock: train the weeks ``weeks_to_train`` picks, oldest first."""
    with retrain_lock(lock_path):
        tracker = Tracker(config.tracking_uri, model_name=config.model_name)
        weeks, skipped = weeks_to_train(
            done=tracker.weeks_with_runs(), now=now, max_backfill=max_backfill, force=force, week=week
        )
        trained = tuple(run(config, load_week(w)) for w in weeks)
    return RetrainOutcome(trained=trained, skipped=tuple(skipped))
