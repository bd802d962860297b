"""Settlements, their post lines, and what stands beside them: adjustments and sign-offs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from serving.db.bulk import bulk_insert
from serving.db.claims import (
    Claim,
    ClaimMismatch,
    Ledger,
    Piece,
    any_in_pieces,
    claim_and_count,
    claimed_events,
    claims_about,
    count_in_pieces,
    free_pieces,
    holding_settlements,
    pieces_about,
)
from serving.db.database import Repository
from serving.db.events import CHUNK
from serving.db.models import (
    Adjustment,
    IngestBatch,
    SettledEngagement,
    Settlement,
    SettlementPost,
    SettlementRequest,
    SettlementSignoff,
    StoredEvent,
)
from serving.statuses import AdjustmentKind

_POST_COLUMNS = ("settlement_id", "post_id", "creator_id", "decision", "payable", "held_amount")
# a stored time may lose sub-microseconds: look a little wider, then match by event_id
_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class Prior:
    """What a settlement request may repeat (``SettlementRepository.prior``)."""

    by_key: Settlement | None
    by_period: Settlement | None
    request: SettlementRequest | None


class SettlementRepository(Repository):
    """Queries of settlements, their lines, adjustments and sign-offs."""

    def settlement(self, settlement_id: str) -> Settlement | None:
        """One settlement."""
        with self.session() as session:
            return session.get(Settlement, settlement_id)

    def settlement_for_update(self, session: Session, settlement_id: str) -> Settlement | None:
        """One settlement, locked in the caller's transaction (corrections to it queue behind)."""
        return session.get(Settlement, settlement_id, with_for_update=True)

    def prior(self, key: str, campaign_id: str, start: datetime, end: datetime) -> Prior:
        """What a settlement request may repeat, read in one transaction: the settlement created under
        the idempotency key, the settlement of the campaign and period, the background settlement
        started under the key."""
        with self.session() as session:
            by_period = select(Settlement).where(
                Settlement.campaign_id == campaign_id,
                Settlement.period_start == start,
                Settlement.period_end == end,
            )
            return Prior(
                by_key=session.scalars(select(Settlement).where(Settlement.idempotency_key == key)).first(),
                by_period=session.scalars(by_period).first(),
                request=session.scalars(
                    select(SettlementRequest).where(SettlementRequest.idempotency_key == key)
                ).first(),
            )

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

    def add_to_ledger(self, session: Session, settlement_id: str, campaign_id: str, claim: Claim) -> None:
        """Claim for a settlement, in the caller's transaction, what ``claim`` decided on: its period and
        batches minus the pieces earlier claims held when it read the ledger (``ledger_about``).

        A claim made since overlaps ours: the database refuses it (IntegrityError, at the latest
        when committing). The events our pieces hold must be exactly the ``claim.n_events`` decided
        on, else nothing is recorded (``ClaimMismatch``).
        """
        if claim.n_events == 0:
            return
        pieces = free_pieces(claim.start, claim.end, claim.through_batch, claim.taken)
        n_held = claim_and_count(session, settlement_id, campaign_id, pieces, after_listed=claim.after_listed)
        if n_held != claim.n_events:
            raise ClaimMismatch(
                f"campaign {campaign_id}: the period's stored events of batches up to {claim.through_batch} "
                f"number {n_held}, the settlement decided on {claim.n_events}; nothing was recorded, "
                "post it again"
            )

    def ledger_about(self, campaign_id: str, start: datetime, end: datetime) -> Ledger:
        """What the ledger holds of the campaign about ``[start, end)``: the claimed pieces that meet
        it with their settlements (a new claim of the period leaves them out), and the events
        ``settled_engagements`` lists about it. Reads a few rows, however many events are settled."""
        with self.session() as session:
            listed = _has_listed(session, campaign_id)
            claims = claims_about(session, campaign_id, start, end)
            by_id = _listed_in(session, campaign_id, _widened(start, end)) if listed else {}
        return Ledger(
            listed=by_id,
            taken=tuple(piece for piece, _ in claims),
            holders=tuple(holder for _, holder in claims),
            after_listed=listed,
        )

    def settled_in(self, campaign_id: str, start: datetime, end: datetime) -> dict[str, str]:
        """The campaign's settled events about ``[start, end)``: event_id to its settlement's id.

        May include a few events just outside the period (the caller matches by event_id).
        """
        period = _widened(start, end)
        with self.session() as session:
            listed = _has_listed(session, campaign_id)
            result = session.connection().execute(claimed_events(campaign_id=campaign_id, period=period))
            # two text columns, hundreds of thousands of rows: the driver's tuples, no Row per row
            settled = dict(result.cursor.fetchall() if result.cursor is not None else [])
            result.close()
            if listed:
                settled.update(_listed_in(session, campaign_id, period))
        return settled

    def coverage(self, campaign_id: str, start: datetime, end: datetime) -> tuple[int, list[str]]:
        """How many of the campaign's stored events in ``[start, end)`` no settlement covers, and
        the settlements that cover the others (oldest first).

        The open events are those of the period, of every batch, that no claim holds: counted
        in the pieces a claim of the period would take now (none left for a settled period).
        """
        with self.session() as session:
            listed = _has_listed(session, campaign_id)
            n_open = count_in_pieces(
                session, campaign_id, _open_pieces(session, campaign_id, start, end), after_listed=listed
            )
            return n_open, _covering(session, campaign_id, (start, end), after_listed=listed)

    def settled_by(self, campaign_id: str, start: datetime, end: datetime) -> list[str]:
        """The settlements that cover the campaign's stored events in ``[start, end)`` (oldest first)
        when none of them is open (``coverage`` says 0 open), else none: a probe for the first open
        event, no count."""
        with self.session() as session:
            listed = _has_listed(session, campaign_id)
            pieces = _open_pieces(session, campaign_id, start, end)
            if any_in_pieces(session, campaign_id, pieces, after_listed=listed):
                return []
            return _covering(session, campaign_id, (start, end), after_listed=listed)

    def ledger_of(self, settlement_id: str) -> list[str]:
        """The event ids a settlement covered."""
        with self.session() as session:
            listed = list(
                session.scalars(
                    select(SettledEngagement.event_id).where(SettledEngagement.settlement_id == settlement_id)
                )
            )
            held = claimed_events(settlement_id=settlement_id, after_listed=True)
            return listed + [str(event_id) for event_id, _ in session.execute(held).all()]

    def settled_events(self, campaign_id: str) -> list[tuple[str, str]]:
        """(event_id, settlement_id) of every settled event of a campaign, as the ledger holds them
        (for audits and checks: an event listed twice would be an engagement settled twice)."""
        with self.session() as session:
            listed = list(_listed_in(session, campaign_id, None).items())
            held = claimed_events(campaign_id=campaign_id, after_listed=bool(listed))
            return listed + [(str(e), str(s)) for e, s in session.execute(held).all()]

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


def _has_listed(session: Session, campaign_id: str) -> bool:
    """Whether ``settled_engagements`` (the ledger before claims) lists events of the campaign."""
    return bool(session.scalar(select(_listing(campaign_id).exists())))


def _listing(campaign_id: str) -> Select[Any]:
    """The campaign's settlements ``settled_engagements`` lists events of (one probe each)."""
    listed = select(SettledEngagement.event_id).where(SettledEngagement.settlement_id == Settlement.id)
    return select(Settlement.id).where(Settlement.campaign_id == campaign_id, listed.exists())


def _listing_settlements(session: Session, campaign_id: str, start: datetime, end: datetime) -> list[str]:
    """The settlements ``settled_engagements`` lists events of the campaign in ``[start, end)`` for."""
    listed = select(SettledEngagement.event_id).where(
        SettledEngagement.settlement_id == Settlement.id,
        SettledEngagement.ts >= start,
        SettledEngagement.ts < end,
    )
    query = select(Settlement.id).where(Settlement.campaign_id == campaign_id, listed.exists())
    return list(session.scalars(query).all())


def _listed_in(
    session: Session, campaign_id: str, period: tuple[datetime, datetime] | None
) -> dict[str, str]:
    """event_id to settlement of what ``settled_engagements`` lists of the campaign (in a period)."""
    query = (
        select(SettledEngagement.event_id, SettledEngagement.settlement_id)
        .join(Settlement, Settlement.id == SettledEngagement.settlement_id)
        .where(Settlement.campaign_id == campaign_id)
    )
    if period is not None:
        query = query.where(SettledEngagement.ts >= period[0], SettledEngagement.ts < period[1])
    return {str(e): str(s) for e, s in session.execute(query).all()}


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


def _open_pieces(session: Session, campaign_id: str, start: datetime, end: datetime) -> list[Piece]:
    """The pieces a claim of the period would take now, over every batch committed."""
    taken = pieces_about(session, campaign_id, start, end)
    through = int(session.scalar(select(func.max(IngestBatch.id))) or 0)
    return free_pieces(start, end, through, taken)


def _covering(
    session: Session, campaign_id: str, period: tuple[datetime, datetime], *, after_listed: bool
) -> list[str]:
    """The settlements that hold any of the campaign's events in the period, oldest first."""
    covering = holding_settlements(session, campaign_id, period, after_listed=after_listed)
    if after_listed:
        covering.update(_listing_settlements(session, campaign_id, *period))
    ordered = session.scalars(
        select(Settlement.id)
        .where(Settlement.id.in_(sorted(covering)))
        .order_by(Settlement.created_at, Settlement.id)
    ).all()
    return list(ordered)
