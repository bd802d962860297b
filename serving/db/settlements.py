"""Settlements, their post lines, and what stands beside them: adjustments and sign-offs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from serving.db.bulk import bulk_insert, claim_events
from serving.db.database import Repository, utcnow
from serving.db.events import CHUNK
from serving.db.models import (
    Adjustment,
    SettledEngagement,
    Settlement,
    SettlementPost,
    SettlementRequest,
    SettlementSignoff,
    StoredEvent,
)
from serving.statuses import AdjustmentKind, RunStatus

_POST_COLUMNS = ("settlement_id", "post_id", "creator_id", "decision", "payable", "held_amount")
# a stored time may lose sub-microseconds: look a little wider, then match by event_id
_SLACK = timedelta(seconds=1)


class SettlementRepository(Repository):
    """Queries of settlements, their lines, adjustments and sign-offs."""

    def settlement(self, settlement_id: str) -> Settlement | None:
        """One settlement."""
        with self.session() as session:
            return session.get(Settlement, settlement_id)

    def settlement_for_update(self, session: Session, settlement_id: str) -> Settlement | None:
        """One settlement, locked in the caller's transaction (corrections to it queue behind)."""
        return session.get(Settlement, settlement_id, with_for_update=True)

    def settlement_by_key(self, key: str) -> Settlement | None:
        """The settlement created under an idempotency key."""
        with self.session() as session:
            return session.scalars(select(Settlement).where(Settlement.idempotency_key == key)).first()

    def settlement_by_period(self, campaign_id: str, start: datetime, end: datetime) -> Settlement | None:
        """The settlement of a campaign and period."""
        with self.session() as session:
            query = select(Settlement).where(
                Settlement.campaign_id == campaign_id,
                Settlement.period_start == start,
                Settlement.period_end == end,
            )
            return session.scalars(query).first()

    def settlement_post(self, settlement_id: str, post_id: str) -> SettlementPost | None:
        """One post line of a settlement."""
        with self.session() as session:
            return self.post_line(session, settlement_id, post_id)

    def post_line(self, session: Session, settlement_id: str, post_id: str) -> SettlementPost | None:
        """One post line of a settlement, read in the caller's transaction."""
        return session.get(SettlementPost, (settlement_id, post_id))

    def post_holds(self, settlement_id: str) -> list[Row[str, Decimal]]:
        """(post_id, held_amount) of every line of a settlement."""
        with self.session() as session:
            return list(
                session.execute(
                    select(SettlementPost.post_id, SettlementPost.held_amount).where(
                        SettlementPost.settlement_id == settlement_id
                    )
                ).all()
            )

    def holds_and_releases(
        self, settlement_id: str, post_ids: list[str]
    ) -> tuple[dict[str, Decimal], list[Row[str, Decimal, str | None]]]:
        """Held money per post of ``post_ids``, and their releases (post_id, amount, idempotency key).

        Both read in one transaction, so the releases are those made against these holds.
        """
        with self.session() as session:
            held = dict(
                session.execute(
                    select(SettlementPost.post_id, SettlementPost.held_amount).where(
                        SettlementPost.settlement_id == settlement_id,
                        SettlementPost.post_id.in_(post_ids),
                    )
                ).all()
            )
            releases = session.execute(
                select(Adjustment.post_id, Adjustment.amount, Adjustment.idempotency_key).where(
                    Adjustment.settlement_id == settlement_id,
                    Adjustment.kind == AdjustmentKind.RELEASE,
                    Adjustment.post_id.in_(post_ids),
                )
            ).all()
        return held, list(releases)

    def post_adjustments(
        self, settlement_id: str, post_ids: list[str]
    ) -> list[Row[str, AdjustmentKind, Decimal, str | None]]:
        """Adjustments on these posts of a settlement: (post_id, kind, amount, idempotency key)."""
        with self.session() as session:
            return list(
                session.execute(
                    select(
                        Adjustment.post_id, Adjustment.kind, Adjustment.amount, Adjustment.idempotency_key
                    ).where(Adjustment.settlement_id == settlement_id, Adjustment.post_id.in_(post_ids))
                ).all()
            )

    def latest_lines(self, *, limit: int) -> list[Row[str, str, datetime, datetime, str, str, Decimal]]:
        """The post lines of the ``limit`` latest settlements with their campaign and period.

        Columns: id, campaign_id, period_start, period_end, post_id, creator_id, payable.
        """
        with self.session() as session:
            latest = (
                select(Settlement.id).order_by(Settlement.created_at.desc()).limit(limit).scalar_subquery()
            )
            return list(
                session.execute(
                    select(
                        Settlement.id,
                        Settlement.campaign_id,
                        Settlement.period_start,
                        Settlement.period_end,
                        SettlementPost.post_id,
                        SettlementPost.creator_id,
                        SettlementPost.payable,
                    )
                    .join(SettlementPost, SettlementPost.settlement_id == Settlement.id)
                    .where(Settlement.id.in_(latest))
                ).all()
            )

    def settlements_touching(
        self, *, creator_id: str | None, post_ids: Sequence[str], limit: int
    ) -> list[str]:
        """Ids of the latest settlements paying a creator or any of these posts."""
        with self.session() as session:
            query = select(SettlementPost.settlement_id, Settlement.created_at).join(
                Settlement, Settlement.id == SettlementPost.settlement_id
            )
            if creator_id is not None:
                query = query.where(SettlementPost.creator_id == creator_id)
            else:
                query = query.where(SettlementPost.post_id.in_(list(post_ids)[:CHUNK]))
            rows = session.execute(query.order_by(Settlement.created_at.desc())).all()
        seen: list[str] = []
        for settlement_id, _ in rows:
            if settlement_id not in seen:
                seen.append(settlement_id)
        return seen[:limit]

    def add_settlement_posts(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert settlement lines (settlement_id, post_id, creator_id, decision, payable, held_amount)."""
        bulk_insert(session, SettlementPost.__table__, _POST_COLUMNS, rows)

    def add_to_ledger(
        self, session: Session, settlement_id: str, campaign_id: str, covered: pd.DataFrame
    ) -> None:
        """Claim the ``covered`` events (columns event_id, ts) for a settlement in the caller's transaction.

        An event another settlement claimed raises IntegrityError, at the latest when committing.
        A settlement may claim hundreds of thousands: the rows are built column-wise and written
        by the driver in one statement (COPY on PostgreSQL, executemany on SQLite), in key order.
        """
        claim_events(session, settlement_id, campaign_id, covered)

    def settled_in(self, campaign_id: str, start: datetime, end: datetime) -> dict[str, str]:
        """The campaign's settled events about ``[start, end)``: event_id to its settlement's id.

        May include a few events just outside the period (the caller matches by event_id).
        """
        low, high = _widened(start, end)
        with self.session() as session:
            # by each settlement of the campaign: ix_settled_engagements_settlement_ts, the ledger's one
            # index beside its key (each index is paid for on every claimed event)
            result = session.connection().execute(
                select(SettledEngagement.event_id, SettledEngagement.settlement_id)
                .join(Settlement, Settlement.id == SettledEngagement.settlement_id)
                .where(
                    Settlement.campaign_id == campaign_id,
                    SettledEngagement.ts >= low,
                    SettledEngagement.ts < high,
                )
            )
            # two text columns, hundreds of thousands of rows: the driver's tuples, no Row per row
            rows = result.cursor.fetchall() if result.cursor is not None else []
            result.close()
        return dict(rows)

    def coverage(self, campaign_id: str, start: datetime, end: datetime) -> tuple[int, list[str]]:
        """How many of the campaign's stored events in ``[start, end)`` no settlement covers, and
        the settlements that cover the others (oldest first)."""
        with self.session() as session:
            open_count = session.scalar(open_count_query(campaign_id, start, end))
            covering = session.scalars(covering_query(campaign_id, start, end)).all()
        return int(open_count or 0), list(covering)

    def ledger_of(self, settlement_id: str) -> list[str]:
        """The event ids a settlement covered."""
        with self.session() as session:
            query = select(SettledEngagement.event_id).where(SettledEngagement.settlement_id == settlement_id)
            return list(session.scalars(query).all())

    def request(self, request_id: str) -> SettlementRequest | None:
        """A settlement being made in the background."""
        with self.session() as session:
            return session.get(SettlementRequest, request_id)

    def request_by_key(self, key: str) -> SettlementRequest | None:
        """The background settlement started under an idempotency key."""
        with self.session() as session:
            query = select(SettlementRequest).where(SettlementRequest.idempotency_key == key)
            return session.scalars(query).first()

    def update_request(self, request_id: str, **values: Any) -> None:
        """Set fields of a background settlement."""
        with self.session() as session:
            row = session.get(SettlementRequest, request_id, with_for_update=True)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def fail_unfinished_requests(self, *, error: str) -> list[str]:
        """Mark every queued or running background settlement failed; returns their ids."""
        with self.session() as session:
            query = select(SettlementRequest).where(
                SettlementRequest.status.in_((RunStatus.QUEUED, RunStatus.RUNNING))
            )
            rows = session.scalars(query.with_for_update()).all()
            for row in rows:
                row.status = RunStatus.FAILED
                row.error = error
                row.finished_at = utcnow()
            return [row.id for row in rows]

    def adjustments(self, session: Session, settlement_id: str) -> Sequence[Adjustment]:
        """A settlement's adjustments, oldest first."""
        query = select(Adjustment).where(Adjustment.settlement_id == settlement_id)
        return session.scalars(query.order_by(Adjustment.created_at, Adjustment.id)).all()

    def adjustment_by_key(self, key: str) -> Adjustment | None:
        """The adjustment made under an idempotency key."""
        with self.session() as session:
            return session.scalars(select(Adjustment).where(Adjustment.idempotency_key == key)).first()

    def signoff_of(self, session: Session, settlement_id: str) -> SettlementSignoff | None:
        """The sign-off of a settlement, if given."""
        query = select(SettlementSignoff).where(SettlementSignoff.settlement_id == settlement_id)
        return session.scalars(query).first()


def _in_period(campaign_id: str, start: datetime, end: datetime) -> tuple[Any, ...]:
    return (StoredEvent.campaign_id == campaign_id, StoredEvent.ts >= start, StoredEvent.ts < end)


def open_count_query(campaign_id: str, start: datetime, end: datetime) -> Select[Any]:
    """The number of the campaign's stored events in ``[start, end)`` the ledger does not hold."""
    settled = select(SettledEngagement.event_id).where(SettledEngagement.event_id == StoredEvent.event_id)
    return (
        select(func.count())
        .select_from(StoredEvent)
        .where(*_in_period(campaign_id, start, end), ~settled.exists())
    )


def covering_query(campaign_id: str, start: datetime, end: datetime) -> Select[Any]:
    """The ids of the settlements holding any of the campaign's events in ``[start, end)``, oldest first.

    By the ledger's own times (each the event's stored time, to the microsecond): one probe of
    ``ix_settled_engagements_settlement_ts`` per settlement of the campaign.
    """
    holds = select(SettledEngagement.event_id).where(
        SettledEngagement.settlement_id == Settlement.id,
        SettledEngagement.ts >= start,
        SettledEngagement.ts < end,
    )
    return (
        select(Settlement.id)
        .where(Settlement.campaign_id == campaign_id, holds.exists())
        .order_by(Settlement.created_at, Settlement.id)
    )


def _widened(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    try:
        low = start - _SLACK
    except OverflowError:
        low = start
    try:
        high = end + _SLACK
    except OverflowError:
        high = end
    return low, high
