"""The engagement ledger's claims: which settlement holds which stored events, by ranges.

A claim (``SettlementClaim``) holds a campaign's stored events in ``[ts_start, ts_end)`` of
ingest batches ``(batch_after, batch_through]``. A settlement claims its period and the
batches its detection run read, minus what the campaign's earlier claims hold
(``free_pieces``): a few rows, however many events. The rows before migration 0014
(``SettledEngagement``, one per event) are read beside the claims and come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import DateTime, Select, and_, exists, func, insert, literal, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from serving.db.database import as_utc
from serving.db.models import SettledEngagement, SettlementClaim, StoredEvent
from serving.errors import Unavailable


@dataclass(frozen=True)
class Piece:
    """A box of a campaign's events: ``[ts_start, ts_end)`` x batches ``(batch_after, batch_through]``."""

    ts_start: datetime
    ts_end: datetime
    batch_after: int
    batch_through: int


@dataclass(frozen=True)
class Ledger:
    """What the ledger held of a campaign about a period when read: the claimed pieces that meet
    the period and each one's settlement (``holders``), the events ``settled_engagements`` lists
    about the period (event_id to settlement; may include a few just outside it), and whether it
    lists any of the campaign's (then those events are left out of the claims' counts).

    Which of a window's events the pieces hold is decided by their times and batches
    (``serving.ledger_rows``), not by reading every held event's id."""

    listed: dict[str, str]
    taken: tuple[Piece, ...]
    holders: tuple[str, ...]
    after_listed: bool = False


@dataclass(frozen=True)
class Claim:
    """What a settlement claims: ``[start, end)`` of batches up to ``through_batch`` (the batches its
    events were read from) minus ``taken``; ``n_events`` is how many events it decided on."""

    start: datetime
    end: datetime
    through_batch: int
    taken: tuple[Piece, ...]
    n_events: int
    after_listed: bool = False


class ClaimMismatch(Unavailable):
    """The events a claim would hold are not the events the settlement decided on (a batch not yet
    readable in the event store); nothing is recorded."""


def free_pieces(start: datetime, end: datetime, through: int, taken: Sequence[Piece]) -> list[Piece]:
    """``[start, end)`` x batches ``(0, through]`` minus the ``taken`` pieces, as disjoint pieces.

    Cut at every moment a taken piece begins or ends; in each stretch the batches no taken
    piece holds are free; a free batch range carries on into the next stretch while it stays
    free (so a period nobody claimed is one piece, and a period claimed before up to batch b
    is one more piece of the batches after b).
    """
    if not (start < end and through > 0):
        return []
    near = [p for p in taken if p.ts_start < end and start < p.ts_end and p.batch_after < through]
    cuts = sorted({start, end, *(max(p.ts_start, start) for p in near), *(min(p.ts_end, end) for p in near)})
    out: list[Piece] = []
    opened: dict[tuple[int, int], datetime] = {}  # a free batch range and where it began
    for a, b in pairwise(cuts):
        held = [
            (p.batch_after, min(p.batch_through, through)) for p in near if p.ts_start <= a and b <= p.ts_end
        ]
        free = set(_gaps(held, through))
        for batches in [r for r in opened if r not in free]:
            out.append(Piece(opened.pop(batches), a, *batches))
        for batches in free:
            opened.setdefault(batches, a)
    out.extend(Piece(began, end, *batches) for batches, began in opened.items())
    return sorted(out, key=lambda p: (p.ts_start, p.batch_after))


def _gaps(held: list[tuple[int, int]], through: int) -> list[tuple[int, int]]:
    """The batch ranges of ``(0, through]`` no range of ``held`` covers."""
    gaps: list[tuple[int, int]] = []
    reached = 0
    for after, upto in sorted(held):
        if after > reached:
            gaps.append((reached, after))
        reached = max(reached, upto)
    if reached < through:
        gaps.append((reached, through))
    return gaps


def _holds(claim: Any, event: Any, period: tuple[datetime, datetime] | None = None) -> Any:
    """The rule of the ledger: the claim holds the stored event (the one place it is written), and
    the event lies in ``period`` if given.

    The period narrows the claim's own times (one range per claim over the events' index,
    never the whole period once per claim).
    """
    low, high = (claim.ts_start, claim.ts_end) if period is None else _narrowed(claim, period)
    return and_(
        event.campaign_id == claim.campaign_id,
        event.ts >= low,
        event.ts < high,
        event.batch_id > claim.batch_after,
        event.batch_id <= claim.batch_through,
    )


def _narrowed(claim: Any, period: tuple[datetime, datetime]) -> tuple[Any, Any]:
    stamp = SettlementClaim.__table__.c.ts_start.type
    return _Later(claim.ts_start, literal(period[0], stamp)), _Earlier(
        claim.ts_end, literal(period[1], stamp)
    )


class _Later(FunctionElement[datetime]):
    """The later of two moments (``greatest``; SQLite's two-argument ``max``)."""

    type = DateTime(timezone=True)
    inherit_cache = True


class _Earlier(FunctionElement[datetime]):
    """The earlier of two moments (``least``; SQLite's two-argument ``min``)."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(_Later)
def _greatest(element: _Later, compiler: Any, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_Later, "sqlite")
def _sqlite_max(element: _Later, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(_Earlier)
def _least(element: _Earlier, compiler: Any, **kw: Any) -> str:
    return f"least({compiler.process(element.clauses, **kw)})"


@compiles(_Earlier, "sqlite")
def _sqlite_min(element: _Earlier, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


def _listed_before(event: Any) -> Any:
    """The event is in the ledger kept before the claims (``SettledEngagement``)."""
    return exists().where(SettledEngagement.event_id == event.event_id)


def claimed_events(
    *,
    campaign_id: str | None = None,
    settlement_id: str | None = None,
    period: tuple[datetime, datetime] | None = None,
    after_listed: bool = False,
) -> Select[str, str]:
    """(event_id, settlement_id) of the events claims hold, of a campaign or settlement, in a period.

    ``after_listed`` leaves out the events ``settled_engagements`` lists (they are settled by
    its settlements; only campaigns settled before migration 0014 have any).
    """
    claim, event = SettlementClaim, StoredEvent
    query = (
        select(event.event_id, claim.settlement_id)
        .select_from(claim)
        .join(event, _holds(claim, event, period))
    )
    if campaign_id is not None:
        query = query.where(claim.campaign_id == campaign_id)
    if settlement_id is not None:
        query = query.where(claim.settlement_id == settlement_id)
    if period is not None:
        query = query.where(claim.ts_start < period[1], claim.ts_end > period[0])
    if after_listed:
        query = query.where(~_listed_before(event))
    return query


def pieces_about(session: Session, campaign_id: str, start: datetime, end: datetime) -> list[Piece]:
    """The campaign's claimed pieces that meet ``[start, end)``."""
    return [piece for piece, _ in claims_about(session, campaign_id, start, end)]


def claims_about(
    session: Session, campaign_id: str, start: datetime, end: datetime
) -> list[tuple[Piece, str]]:
    """The campaign's claimed pieces that meet ``[start, end)``, each with its settlement."""
    rows = session.execute(
        select(
            SettlementClaim.ts_start,
            SettlementClaim.ts_end,
            SettlementClaim.batch_after,
            SettlementClaim.batch_through,
            SettlementClaim.settlement_id,
        ).where(
            SettlementClaim.campaign_id == campaign_id,
            SettlementClaim.ts_start < end,
            SettlementClaim.ts_end > start,
        )
    ).all()
    return [(Piece(as_utc(a), as_utc(b), int(lo), int(hi)), str(s)) for a, b, lo, hi, s in rows]


def count_in_pieces(
    session: Session, campaign_id: str, pieces: Sequence[Piece], *, after_listed: bool
) -> int:
    """How many of the campaign's stored events the pieces hold (less those ``settled_engagements``
    lists, if ``after_listed``): one range of the events' index per piece."""
    event = StoredEvent
    total = 0
    for i in range(0, len(pieces), _PIECES_PER_QUERY):
        counts = []
        for p in pieces[i : i + _PIECES_PER_QUERY]:
            query = select(func.count()).where(*_in_piece(campaign_id, p))
            counts.append(query.where(~_listed_before(event)) if after_listed else query)
        total += sum(int(n) for n in session.scalars(union_all(*counts)).all())
    return total


def any_in_pieces(session: Session, campaign_id: str, pieces: Sequence[Piece], *, after_listed: bool) -> bool:
    """Whether the pieces hold any of the campaign's stored events (less those ``settled_engagements``
    lists, if ``after_listed``): ``count_in_pieces`` > 0, each range of the events' index probed up to
    its first event."""
    event = StoredEvent
    for i in range(0, len(pieces), _PIECES_PER_QUERY):
        probes = []
        for p in pieces[i : i + _PIECES_PER_QUERY]:
            found = exists().where(*_in_piece(campaign_id, p))
            probes.append(found.where(~_listed_before(event)) if after_listed else found)
        if session.scalar(select(or_(*probes))):
            return True
    return False


def ids_in_pieces(session: Session, campaign_id: str, pieces: Sequence[Piece]) -> list[set[str]]:
    """The ids of the campaign's stored events each piece's box holds (one range of the events'
    index per piece)."""
    held: list[set[str]] = [set() for _ in pieces]
    for i in range(0, len(pieces), _PIECES_PER_QUERY):
        queries = [
            select(literal(k).label("k"), StoredEvent.event_id).where(*_in_piece(campaign_id, p))
            for k, p in enumerate(pieces[i : i + _PIECES_PER_QUERY], start=i)
        ]
        for k, event_id in session.execute(union_all(*queries)).all():
            held[int(k)].add(str(event_id))
    return held


def _in_piece(campaign_id: str, piece: Piece) -> tuple[Any, ...]:
    """The campaign's stored events in the piece's box (its times and batches)."""
    event = StoredEvent
    return (
        event.campaign_id == campaign_id,
        event.ts >= piece.ts_start,
        event.ts < piece.ts_end,
        event.batch_id > piece.batch_after,
        event.batch_id <= piece.batch_through,
    )


_PIECES_PER_QUERY = 200  # queries per statement (SQLite allows 500 terms in a compound select)


def holding_settlements(
    session: Session, campaign_id: str, period: tuple[datetime, datetime], *, after_listed: bool
) -> set[str]:
    """The settlements whose claims hold any of the campaign's events in the period (one probe per
    claim, each stopping at its first event)."""
    claim, event = SettlementClaim, StoredEvent
    held = select(event.event_id).where(_holds(claim, event, period))
    if after_listed:
        held = held.where(~_listed_before(event))
    query = select(claim.settlement_id).where(
        claim.campaign_id == campaign_id, claim.ts_start < period[1], claim.ts_end > period[0], held.exists()
    )
    return {str(settlement_id) for settlement_id in session.scalars(query).all()}


def claim_and_count(
    session: Session, settlement_id: str, campaign_id: str, pieces: Sequence[Piece], *, after_listed: bool
) -> int:
    """Insert a settlement's pieces and count the stored events they hold (less those
    ``settled_engagements`` lists, if ``after_listed``), in the caller's transaction.

    On PostgreSQL one statement: the pieces' INSERT ... RETURNING joined to the events' index (one
    round trip, and the count is of exactly the rows inserted); elsewhere the insert, then the count
    of what the settlement's claims hold. The database refuses a piece that overlaps an earlier claim.
    """
    if session.get_bind().dialect.name != "postgresql":
        add_claims(session, settlement_id, campaign_id, pieces)
        held = claimed_events(settlement_id=settlement_id, after_listed=after_listed).subquery()
        return int(session.scalar(select(func.count()).select_from(held)) or 0)
    if not pieces:
        return 0
    inserted = (
        insert(SettlementClaim)
        .values([_claim_row(settlement_id, campaign_id, p) for p in pieces])
        .returning(
            SettlementClaim.campaign_id,
            SettlementClaim.ts_start,
            SettlementClaim.ts_end,
            SettlementClaim.batch_after,
            SettlementClaim.batch_through,
        )
        .cte("inserted")
    )
    event = StoredEvent
    query = select(func.count()).select_from(inserted).join(event, _holds(inserted.c, event))
    if after_listed:
        query = query.where(~_listed_before(event))
    return int(session.scalar(query) or 0)


def _claim_row(settlement_id: str, campaign_id: str, piece: Piece) -> dict[str, Any]:
    return {
        "settlement_id": settlement_id,
        "campaign_id": campaign_id,
        "ts_start": piece.ts_start,
        "ts_end": piece.ts_end,
        "batch_after": piece.batch_after,
        "batch_through": piece.batch_through,
    }


def add_claims(session: Session, settlement_id: str, campaign_id: str, pieces: Sequence[Piece]) -> None:
    """Insert a settlement's pieces (the database refuses one that overlaps an earlier claim)."""
    session.add_all(
        SettlementClaim(
            settlement_id=settlement_id,
            campaign_id=campaign_id,
            ts_start=p.ts_start,
            ts_end=p.ts_end,
            batch_after=p.batch_after,
            batch_through=p.batch_through,
        )
        for p in pieces
    )
    session.flush()
