"""The reputation tables: what runs and reviews established about accounts, devices, IPs and groups.

``reputation`` holds accounts (runs' confirmations and review labels);
``reputation_subjects`` holds farm devices and IPs and seller groups' members
(runs' confirmations). Both are append-only; rows come back as frames in
``detectors.reputation.ENTRY_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, insert, literal, or_, select, union_all
from sqlalchemy.orm import Session

from detectors.reputation import ENTRY_COLUMNS
from serving.db.database import Repository, as_utc
from serving.db.models import ReputationEntry, ReputationSubject, ReviewReopen

CHUNK = 5000  # subject ids per IN list
# the subjects table's kinds and whether their subject is an account (a group's member)
SUBJECT_TABLE_KINDS = ("device", "ip", "group")


class ReputationRepository(Repository):
    """Queries of the reputation tables (append-only)."""

    def add(self, session: Session, entries: Iterable[ReputationEntry | ReputationSubject]) -> None:
        """Append entries in the caller's transaction."""
        session.add_all(list(entries))

    def insert(
        self,
        session: Session,
        table: type[ReputationEntry] | type[ReputationSubject],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """Append rows (column: value) to one reputation table in the caller's transaction."""
        if rows:
            session.execute(insert(table), list(rows))

    def entries(
        self, subjects: Mapping[str, Sequence[str]], *, runs_until: datetime, reviews_until: datetime
    ) -> pd.DataFrame:
        """Readable entries of these subjects (kind: ids; a group's ids are accounts).

        Runs' entries established before ``runs_until``, reviews' at or before
        ``reviews_until`` (but for cases an admin reopened: their labels are superseded).
        """
        readable = _readable(runs_until=runs_until, reviews_until=reviews_until)
        rows: list[tuple[Any, ...]] = []
        with self.session() as session:
            for kind, ids in subjects.items():
                query, column = _query(kind)
                for i in range(0, len(ids), CHUNK):
                    chunk = list(ids[i : i + CHUNK])
                    rows.extend(session.execute(query.where(column.in_(chunk), readable(kind))).all())
        return _frame(rows)

    def all_entries(self) -> pd.DataFrame:
        """Every standing entry (for export): a reopened case's are superseded and left out."""
        rows: list[tuple[Any, ...]] = []
        with self.session() as session:
            for kind in ("account", *SUBJECT_TABLE_KINDS):
                query, _ = _query(kind)
                rows.extend(session.execute(query.where(_not_reopened(kind))).all())
        return _frame(rows)

    def changed_since(
        self, since: datetime, *, runs_until: datetime, reviews_until: datetime
    ) -> pd.DataFrame:
        """Entries a run reading before ``runs_until``/``reviews_until`` would read that were
        recorded after ``since``, and entries of cases reopened after it (``ENTRY_COLUMNS``)."""
        readable = _readable(runs_until=runs_until, reviews_until=reviews_until)
        reopened = select(ReviewReopen.case_id).where(ReviewReopen.created_at > as_utc(since))
        queries = []
        for kind in ("account", *SUBJECT_TABLE_KINDS):
            query, _ = _query(kind)
            table = ReputationEntry if kind == "account" else ReputationSubject
            new = and_(table.recorded_at > as_utc(since), readable(kind))
            queries.append(query.where(or_(new, table.source_id.in_(reopened))))
        # one statement: every settlement that reuses a run asks this (one round trip, not four)
        with self.session() as session:
            rows: list[tuple[Any, ...]] = list(session.execute(union_all(*queries)).all())
        return _frame(rows)

    def of_source(self, source_id: str) -> list[ReputationEntry]:
        """What one run or case established about accounts, by account."""
        with self.session() as session:
            query = select(ReputationEntry).where(ReputationEntry.source_id == source_id)
            return list(session.scalars(query.order_by(ReputationEntry.account_id)))

    def subjects_of_source(self, source_id: str) -> list[ReputationSubject]:
        """What one run established about devices, IPs and groups, by kind and subject."""
        with self.session() as session:
            query = select(ReputationSubject).where(ReputationSubject.source_id == source_id)
            order = (ReputationSubject.subject_kind, ReputationSubject.subject_id)
            return list(session.scalars(query.order_by(*order)))


def _query(kind: str) -> tuple[Any, Any]:
    """The select of one kind's entries in ``ENTRY_COLUMNS`` order, and the column its ids match."""
    if kind == "account":
        e = ReputationEntry
        query = select(
            literal("account"),
            e.account_id,
            literal(""),
            e.verdict,
            e.established_at,
            e.source,
            e.source_id,
            literal(""),
        )
        return query, e.account_id
    s = ReputationSubject
    query = select(
        s.subject_kind, s.subject_id, s.platform, s.verdict, s.established_at, s.source, s.source_id, s.detail
    ).where(s.subject_kind == kind)
    return query, s.subject_id


def _not_reopened(kind: str) -> ColumnElement[bool]:
    table = ReputationEntry if kind == "account" else ReputationSubject
    return table.source_id.not_in(select(ReviewReopen.case_id))


def _readable(*, runs_until: datetime, reviews_until: datetime) -> Any:
    """Per kind: the condition on its table's rows a run may read (``detectors.reputation.readable``)."""

    def condition(kind: str) -> ColumnElement[bool]:
        table = ReputationEntry if kind == "account" else ReputationSubject
        return or_(
            and_(table.source == "run", table.established_at < as_utc(runs_until)),
            and_(
                table.source != "run",
                table.established_at <= as_utc(reviews_until),
                _not_reopened(kind),
            ),
        )

    return condition


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows in ``ENTRY_COLUMNS`` (established_at in UTC; the database names a source's kind ``source``)."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(ENTRY_COLUMNS))
    frame["established_at"] = pd.to_datetime([as_utc(t) for t in frame["established_at"]], utc=True)
    return frame
