"""Reputation that persists: what runs and reviews established about accounts, read by later runs.

A finished detection run remembers the accounts it found invalid on structural
evidence alone (``detectors.scorer.confirmed_accounts``); a review decision
remembers the accounts it labelled (1 confirmed, 0 cleared). A later run reads
the entries of its window's accounts and hands the scorer their decayed
reputation (``known_seller``, a weak signal). What a run may read:

- a run's confirmation only when the account's confirmed engagement lies before
  the run's context (``CPEGUARD_HISTORY_DAYS`` before its period): inside it the
  detectors see that engagement themselves, and counting it twice would make a
  day's verdicts depend on how the period was cut;
- a review verdict established at or before the run's period starts.

A cleared account is not known: a clearance overrides every confirmation
established at or before it; only a confirmation after it (new structural
evidence) makes the account known again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from detectors.reputation import REPUTATION_COLUMNS, decayed
from serving.db.database import as_utc, utcnow
from serving.db.models import ReputationEntry
from serving.db.reputation import ReputationRepository

CONFIRMED = "confirmed"
CLEARED = "cleared"
_DAY_S = 86_400.0


class ReputationMemory:
    """Writes what runs and reviews established; reads the known accounts of a run's window."""

    def __init__(self, *, repository: ReputationRepository, half_life_days: float) -> None:
        self.repository = repository
        self.half_life_days = half_life_days

    def remember_run(self, run_id: str, confirmed: pd.DataFrame) -> int:
        """Record a run's confirmed accounts (``confirmed_accounts``' frame); how many."""
        now = utcnow()
        entries = [
            ReputationEntry(
                account_id=str(account),
                verdict=CONFIRMED,
                source="run",
                source_id=run_id,
                established_at=pd.Timestamp(at).to_pydatetime(),
                recorded_at=now,
            )
            for account, at in zip(confirmed["account_id"], confirmed["established_at"], strict=True)
        ]
        with self.repository.session() as session:
            self.repository.add(session, entries)
        return len(entries)

    def known(
        self, account_ids: Sequence[str], *, start: datetime, context_start: datetime
    ) -> pd.DataFrame | None:
        """The known accounts among ``account_ids`` for a run whose period starts at ``start`` and
        whose context at ``context_start``, decayed to ``start`` (None: none known)."""
        rows = self.repository.entries(account_ids, runs_until=context_start, reviews_until=start)
        if not rows:
            return None
        entries = pd.DataFrame(
            [tuple(r) for r in rows],
            columns=["account_id", "verdict", "source", "source_id", "established_at"],
        )
        entries["established_at"] = pd.to_datetime([as_utc(t) for t in entries["established_at"]], utc=True)
        known = known_accounts(entries, as_of=start, half_life_days=self.half_life_days)
        return known if not known.empty else None


def known_accounts(entries: pd.DataFrame, *, as_of: datetime, half_life_days: float) -> pd.DataFrame:
    """One row per known account (``REPUTATION_COLUMNS``): its strongest confirmation decayed to ``as_of``.

    ``entries`` has account_id, verdict, source (run or case), source_id and
    established_at. Confirmations established at or before the account's latest
    clearance are void; an account with none left is not known.
    """
    cleared = entries.loc[entries["verdict"] == CLEARED].groupby("account_id")["established_at"].max()
    confirmed = entries.loc[entries["verdict"] == CONFIRMED]
    is_void = np.zeros(len(confirmed), dtype=bool)
    if len(cleared):
        last_cleared = pd.to_datetime(confirmed["account_id"].map(cleared), utc=True)
        is_void = (last_cleared.notna() & (confirmed["established_at"] <= last_cleared)).to_numpy()
    standing = confirmed.loc[~is_void]
    age_days = (pd.Timestamp(as_of) - standing["established_at"]).dt.total_seconds() / _DAY_S
    scored = standing.assign(
        score=decayed(age_days.to_numpy(dtype=np.float64), half_life_days=half_life_days),
        source=[_source(s, i) for s, i in zip(standing["source"], standing["source_id"], strict=True)],
    )
    best = scored.sort_values(["account_id", "score", "source"], ascending=[True, False, True])
    best = best.drop_duplicates("account_id", keep="first")
    return best[list(REPUTATION_COLUMNS)].reset_index(drop=True)


def _source(kind: str, source_id: str) -> str:
    """How evidence names what established a reputation."""
    return f"run {source_id}" if kind == "run" else f"review case {source_id}"


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
