"""What a detection run reads around its period: the store's events checked against the database,
the lookback around the period (``context_ranges``), and what earlier runs and reviews established
(``serving.reputation``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd

from features.contract import clean_events
from serving.db.database import as_utc
from serving.db.events import EventRepository
from serving.db.models import DetectionRun
from serving.manifest import StoreFault
from serving.reputation import ReputationMemory
from serving.store import EventStore


class RunContext:
    """Reads a run's events, its lookback and its reputation; ``history_days`` 0: no lookback."""

    def __init__(
        self,
        *,
        store: EventStore,
        events: EventRepository,
        history_days: int,
        reputation: ReputationMemory | None,
    ) -> None:
        self.store = store
        self.events = events
        self.history_days = history_days
        self.reputation = reputation

    def context_ranges(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of the store a run over ``[start, end)`` reads as context (none without a lookback).

        ``history_days`` before the period and as many after it, as far as the store
        already holds them: settled after its events are in, a period's verdicts are the
        same however it is cut (a day's run sees the days that follow it, as a run over
        the whole period does). A settlement made before later events arrive decides on
        what has arrived.
        """
        if self.history_days <= 0:
            return []
        days = timedelta(days=self.history_days)
        return [(start - days, start), (end, end + days)]

    def stored_events(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_id: str | None = None,
        through_batch: int | None = None,
    ) -> pd.DataFrame:
        """The store's events of the period, checked against the database's index of accepted events.

        StoreFault (503) when the store holds fewer than the database accepted: a partition or
        file gone, never a decision over part of a window.
        """
        raw = self.store.read(start=start, end=end, campaign_id=campaign_id, through_batch=through_batch)
        expected = self.events.count_events(
            start=start, end=end, campaign_id=campaign_id, through_batch=through_batch
        )
        found = int(raw["event_id"].nunique()) if not raw.empty else 0
        if found < expected:
            raise StoreFault(f"the store holds {found} of the {expected} accepted events of the period")
        return raw

    def history(self, run: DetectionRun, *, platforms: pd.Series) -> pd.DataFrame | None:
        """Clean events of the context around the run's period on the window's platforms (None: none).

        Context only (``context_ranges``): never decided or paid by this run. Read as the
        period is, through the run's last batch and checked against the database.
        """
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        parts = [
            self.stored_events(start=a, end=b, through_batch=run.last_batch_id)
            for a, b in self.context_ranges(start, end)
        ]
        parts = [part for part in parts if not part.empty]
        if not parts:
            return None
        raw = pd.concat(parts, ignore_index=True)
        history = clean_events(raw, source="event store (history)").frame
        same = history["platform"].astype("str").isin(set(platforms.astype("str").unique()))
        return history.loc[same.to_numpy()]

    def known(self, run: DetectionRun, events: pd.DataFrame) -> pd.DataFrame | None:
        """The window's accounts, devices, IPs and groups earlier runs and reviews established
        (``serving.reputation``)."""
        if self.reputation is None:
            return None
        start = as_utc(run.period_start)
        accounts = _values(events, "user_id")
        subjects = {"account": accounts, "group": accounts}
        subjects.update({"device": _values(events, "device_id"), "ip": _values(events, "ip")})
        return self.reputation.known(subjects, start=start, context_start=self.context_start(run))

    def context_start(self, run: DetectionRun) -> datetime:
        """Where the run's context starts (its period's start without a lookback)."""
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        return min((a for a, _ in self.context_ranges(start, end)), default=start)

    def reputation_changed(self, run: DetectionRun, *, accounts: Callable[[str], pd.DataFrame]) -> bool:
        """Whether a review verdict, a reopened case or a later run changed, after ``run`` was
        created, reputation the run read or would read about its own accounts (or any device or IP:
        the run keeps no list of them). Such a run is not reused: it would ignore a newer verdict."""
        if self.reputation is None:
            return False
        changed = self.reputation.repository.changed_since(
            as_utc(run.created_at),
            runs_until=self.context_start(run),
            reviews_until=as_utc(run.period_start),
        )
        if changed.empty:
            return False
        if not changed["subject_kind"].isin(["account", "group"]).all():
            return True
        mine = set(accounts(run.id)["account_id"].astype("str"))
        return bool(changed["subject_id"].astype("str").isin(mine).any())


def _values(events: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of a contract column (none when the column is absent)."""
    if column not in events:
        return []
    return events[column].dropna().astype("str").unique().tolist()
