"""Reputation that persists: what runs and reviews established about accounts, devices, IPs and groups.

A finished detection run remembers what it confirmed on structural evidence
alone (``detectors.memory.confirmed_subjects``): accounts, farm devices and IPs,
and the member accounts of seller groups. A review decision remembers the
accounts it labelled (1 confirmed, 0 cleared). A later run reads the entries of
its window's accounts, devices and IPs and hands the scorer their decayed
reputation (``known_seller``, a weak signal). What a run may read
(``detectors.reputation.readable``):

- a run's confirmation only when its engagement lies before the run's context
  (``CPEGUARD_HISTORY_DAYS`` before its period): inside it the detectors see that
  engagement themselves, and counting it twice would make a day's verdicts
  depend on how the period was cut;
- a review verdict established at or before the run's period starts.

A cleared subject is not known: a clearance overrides every confirmation of the
same subject established at or before it, and an account's clearance voids its
device, IP and group evidence from before it too; only a confirmation after it
(new structural evidence) makes it known again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import pandas as pd

from detectors.reputation import CLEARED, CONFIRMED, known_subjects
from serving.db.database import utcnow
from serving.db.models import ReputationEntry, ReputationSubject
from serving.db.reputation import ReputationRepository


class ReputationMemory:
    """Writes what runs and reviews established; reads the known subjects of a run's window."""

    def __init__(self, *, repository: ReputationRepository, half_life_days: float) -> None:
        self.repository = repository
        self.half_life_days = half_life_days

    def remember_run(self, run_id: str, confirmed: pd.DataFrame) -> int:
        """Record a run's confirmed subjects (``detectors.memory.confirmed_subjects``' frame); how many.

        Written as rows in one statement per table: one ORM object per subject cost about 0.1 s per
        700 subjects, a tenth of a small run (docs/benchmarks-archive.md, "Ingest and detection against
        8f1b572")."""
        now = utcnow()
        run = {"verdict": CONFIRMED, "source": "run", "source_id": run_id, "recorded_at": now}
        accounts: list[dict[str, object]] = []
        subjects: list[dict[str, object]] = []
        for row in confirmed.itertuples(index=False):
            at = pd.Timestamp(str(row.established_at)).to_pydatetime()
            if row.subject_kind == "account":
                accounts.append({"account_id": str(row.subject_id), "established_at": at, **run})
                continue
            subjects.append(
                {
                    "subject_kind": str(row.subject_kind),
                    "subject_id": str(row.subject_id),
                    "platform": str(row.platform or ""),
                    "detail": str(row.detail or "")[:200],
                    "established_at": at,
                    **run,
                }
            )
        with self.repository.session() as session:
            self.repository.insert(session, ReputationEntry, accounts)
            self.repository.insert(session, ReputationSubject, subjects)
        return len(accounts) + len(subjects)

    def known(
        self, subjects: Mapping[str, Sequence[str]], *, start: datetime, context_start: datetime
    ) -> pd.DataFrame | None:
        """The known subjects among ``subjects`` (kind: ids, ``detectors.reputation.SUBJECT_KINDS``) for a
        run whose period starts at ``start`` and whose context at ``context_start``, decayed to ``start``
        (None: nothing known or cleared)."""
        entries = self.repository.entries(subjects, runs_until=context_start, reviews_until=start)
        if entries.empty:
            return None
        known = known_subjects(entries, as_of=start, half_life_days=self.half_life_days)
        return known if not known.empty else None

    def export(self) -> pd.DataFrame:
        """Every standing entry, as a reputation file holds them (``ENTRY_COLUMNS``; docs/reputation.md)."""
        entries = self.repository.all_entries()
        order = ["subject_kind", "subject_id", "established_at", "source_id"]
        return entries.sort_values(order, kind="stable").reset_index(drop=True)


def review_entries(
    case_id: str, labels: Iterable[tuple[str, int]], *, established_at: datetime
) -> list[ReputationEntry]:
    """What a review decision establishes: each labelled account confirmed (1) or cleared (0)."""
    now = utcnow()
    return [
        ReputationEntry(
            account_id=account_id,
            verdict=CONFIRMED if label == 1 else CLEARED,
            source="case",
            source_id=case_id,
            established_at=established_at,
            recorded_at=now,
        )
        for account_id, label in dict(labels).items()
        if account_id
    ]
