"""Settlements: exactly once per idempotency key, each engagement at most once; corrections appended.

A settlement covers the engagements of its campaign and period that no earlier settlement
covered, and claims them in the engagement ledger in the transaction that records it: its
period and the ingest batches its events were read from, minus what earlier claims hold (the
database refuses overlapping claims, so concurrent overlapping settlements cannot both pay
an event). A period whose events are all covered answers 409 naming the settlements that
cover them. A settlement that would run detection over more than the inline limit is made
in the background: 202, then ``GET /v1/settlements/{id}`` answers it when done.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError

from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.claims import Claim
from serving.db.database import as_utc, utcnow
from serving.db.events import EventRepository
from serving.db.models import Campaign, SettlementRequest
from serving.db.requests import RequestRepository
from serving.db.runs import RunRepository
from serving.db.settlements import Prior, SettlementRepository
from serving.detection import DetectionService
from serving.errors import Conflict, NotFound, ServiceError
from serving.metrics import Metrics
from serving.schemas import SettlementIn
from serving.settlement_answers import BodyCache, StoredAnswer, request_answer
from serving.settlement_posts import DETECTION_UNAVAILABLE, PostDecider, decided_in_scoring
from serving.settlement_records import post_lines, record_settlement, settlement_out
from serving.statuses import UNFINISHED, RunStatus
from serving.store import EventStore

# re-exported: the routes, corrections and tests import them from here
__all__ = [
    "DETECTION_UNAVAILABLE",
    "BodyCache",
    "SettlementService",
    "StoredAnswer",
    "decided_in_scoring",
    "post_lines",
]

# a concurrent settlement claimed some of our events: decide again without them, this often at most
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class _Request:
    """What a settlement request asks and under which key, checked for replays."""

    campaign_id: str
    start: datetime
    end: datetime
    idempotency_key: str
    request_hash: str


class SettlementService:
    """Creates, replays and adjusts settlements; the stored body is the answer, byte for byte."""

    def __init__(
        self,
        *,
        settlements: SettlementRepository,
        requests: RequestRepository,
        runs: RunRepository,
        events: EventRepository,
        campaigns: CampaignRepository,
        audit_trail: AuditRepository,
        store: EventStore,
        detection: DetectionService,
        signoff_withheld_share: float,
        metrics: Metrics,
        executor: Executor,
        body_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.settlements = settlements
        # background settlements, each made by one process under a lease (``detection.leases``)
        self.requests = requests
        self.leases = detection.leases
        self.runs = runs
        self.events = events
        self.campaigns = campaigns
        self.audit_trail = audit_trail
        self.store = store
        self.detection = detection
        self.signoff_withheld_share = signoff_withheld_share
        self.metrics = metrics
        self.executor = executor  # makes large settlements in the background
        self.bodies = BodyCache(max_bytes=body_cache_bytes)
        # decides the posts; indexes each finished run's verdicts once (``PostDecider.prepare``)
        self.decider = PostDecider(runs=runs, events=events, detection=detection)
        self.verdict_index = self.decider.verdict_index
        self._making: set[str] = set()  # background settlements this process is making
        self._making_lock = threading.Lock()
        detection.done_listeners.append(self.decider.prepare)

    def settle(self, request: SettlementIn, *, idempotency_key: str, actor: Principal) -> StoredAnswer:
        """Settle what no settlement covered of a campaign's period; a replay returns the stored body.

        409 when the key was used with another body, the exact period is settled, or every
        event of the period is covered already; 202 when it is made in the background.
        """
        start, end = as_utc(request.period_start), as_utc(request.period_end)
        asked = _Request(
            campaign_id=request.campaign_id,
            start=start,
            end=end,
            idempotency_key=idempotency_key,
            request_hash=_request_hash(request.campaign_id, start, end),
        )
        prior = self._prior(asked)
        existing = self._recorded(asked, actor, prior) or self._pending(asked, prior.request)
        if existing is not None:
            return existing
        campaign = self.campaigns.campaign(request.campaign_id)
        if campaign is None:
            raise NotFound(f"campaign_id: no campaign {request.campaign_id!r}; register it with PUT first")
        covering = self.settlements.settled_by(campaign.campaign_id, start, end)
        if covering:
            raise Conflict(_all_settled(campaign.campaign_id, covering))
        # looked up once: the settlement decides on the run found here
        run_id = self.detection.reusable_run(start=start, end=end, campaign_id=campaign.campaign_id)
        if run_id is None and self.events.count_events(start=start, end=end) > self.detection.sync_max_events:
            return self._start_background(asked, actor)  # detection over more than the inline limit
        return self._settle_now(f"stl_{uuid.uuid4().hex}", campaign, asked, actor, run_id=run_id)

    def fail_interrupted(self) -> list[str]:
        """At start-up: background settlements whose process is gone (``RunLeases.stale``: killed or
        restarted) failed (POST again to retry); those of other live processes go on."""
        return self.requests.fail_stale_requests(
            error="interrupted: the server stopped before the settlement was made; post it again",
            error_status=503,
            stale=self.leases.stale,
        )

    def lookup(self, settlement_id: str) -> StoredAnswer:
        """A settlement's body, or while it is made in the background its status (202) or failure."""
        settlement = self.settlements.settlement(settlement_id)
        if settlement is not None:
            body = settlement.body.encode()
            self.bodies.put(settlement_id, body)
            return StoredAnswer(body=body, is_replay=True)
        row = self.requests.request(settlement_id)
        if row is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        if self._is_orphaned(row) and self.requests.update_owned(
            row.id,
            owner=row.owner,
            status=RunStatus.FAILED,
            error=_ORPHANED,
            error_status=503,
            finished_at=utcnow(),
        ):
            row = self.requests.request(settlement_id) or row
        return request_answer(row, is_replay=True)

    def _is_orphaned(self, row: SettlementRequest) -> bool:
        """Queued or running, yet its owner is gone (``RunLeases.stale``): cut off by a restart or
        a kill, or this process's own cut off by a database outage that kept it from recording its
        end. Another live process's request is not."""
        with self._making_lock:
            if row.id in self._making:
                return False
        return row.status in UNFINISHED and self.leases.stale(row)

    def _settle_now(
        self,
        settlement_id: str,
        campaign: Campaign,
        asked: _Request,
        actor: Principal,
        *,
        run_id: str | None = None,
    ) -> StoredAnswer:
        """Decide (on ``run_id``'s verdicts, if given), build and record the settlement, deciding again
        if a concurrent one claimed events."""
        for _ in range(_CLAIM_ATTEMPTS):
            ledger = self.settlements.ledger_about(campaign.campaign_id, asked.start, asked.end)
            decided = self.decider.decide(campaign, asked.start, asked.end, actor, ledger, run_id=run_id)
            if decided.n_events == 0 and decided.already_settled_by:
                raise Conflict(_all_settled(campaign.campaign_id, list(decided.already_settled_by)))
            out = settlement_out(
                settlement_id,
                campaign,
                asked.start,
                asked.end,
                decided,
                signoff_withheld_share=self.signoff_withheld_share,
            )
            body = out.model_dump_json().encode()
            try:
                record_settlement(
                    self.settlements,
                    self.audit_trail,
                    out,
                    body,
                    Claim(
                        start=asked.start,
                        end=asked.end,
                        through_batch=decided.through_batch,
                        taken=ledger.taken,
                        n_events=len(decided.covered),
                        after_listed=ledger.after_listed,
                    ),
                    idempotency_key=asked.idempotency_key,
                    request_hash=asked.request_hash,
                    actor=actor,
                )
            except IntegrityError:
                # a twin with our key or period won (answer as if we had arrived second), or an
                # overlapping settlement claimed part of our period first (decide without it)
                existing = self._recorded(asked, actor, self._prior(asked))
                if existing is not None:
                    return existing
                continue
            self.bodies.put(settlement_id, body)
            self.metrics.record_settlement(out)
            return StoredAnswer(body=body, is_replay=False)
        raise Conflict(
            f"campaign {campaign.campaign_id}: concurrent settlements kept claiming events of this period; "
            "nothing was recorded, post it again"
        )

    def _start_background(self, asked: _Request, actor: Principal) -> StoredAnswer:
        row = SettlementRequest(
            id=f"stl_{uuid.uuid4().hex}",
            idempotency_key=asked.idempotency_key,
            request_hash=asked.request_hash,
            campaign_id=asked.campaign_id,
            period_start=asked.start,
            period_end=asked.end,
            status=RunStatus.QUEUED,
            error="",
            error_status=0,
            actor=actor.key_id,
            role=actor.role,
            created_at=utcnow(),
            owner=self.leases.owner,
            lease_until=self.leases.until(),
        )
        self._making_here(row.id)  # before its row exists, so no lookup finds it orphaned
        try:
            with self.settlements.session() as session:
                session.add(row)
                self.audit_trail.record(
                    session,
                    actor=actor.key_id,
                    role=actor.role,
                    action="settlement.queue",
                    target=row.id,
                    detail={"idempotency_key": asked.idempotency_key, "campaign_id": asked.campaign_id},
                )
        except BaseException as error:
            self._made(row.id)
            if not isinstance(error, IntegrityError):
                raise
            # a concurrent twin with our key queued it first
            prior = self._prior(asked)
            existing = self._recorded(asked, actor, prior) or self._pending(asked, prior.request)
            if existing is None:
                raise
            return existing
        self.executor.submit(self._finish, row.id)
        return request_answer(row, is_replay=False)

    def _finish(self, request_id: str) -> None:
        """Make a queued settlement (in the executor); a failure is kept with its HTTP status."""
        try:
            row = self.requests.request(request_id)
            # made already, or taken by another process meanwhile (its lease here had expired)
            if (
                row is None
                or row.status != RunStatus.QUEUED
                or not self.requests.update_owned(
                    request_id, owner=self.leases.owner, status=RunStatus.RUNNING
                )
            ):
                return
            self._make(row)
        finally:
            self._made(request_id)

    def _making_here(self, request_id: str) -> None:
        """This process makes the request from now on: its lease is kept alive."""
        with self._making_lock:
            self._making.add(request_id)
        self.leases.hold(request_id, table=self.requests)

    def _made(self, request_id: str) -> None:
        with self._making_lock:
            self._making.discard(request_id)
        self.leases.release(request_id)

    def _make(self, row: SettlementRequest) -> None:
        request_id = row.id
        asked = _Request(
            campaign_id=row.campaign_id,
            start=as_utc(row.period_start),
            end=as_utc(row.period_end),
            idempotency_key=row.idempotency_key,
            request_hash=row.request_hash,
        )
        try:
            campaign = self.campaigns.campaign(row.campaign_id)
            if campaign is None:
                raise NotFound(f"campaign_id: no campaign {row.campaign_id!r}")
            self._settle_now(request_id, campaign, asked, Principal(key_id=row.actor, name="", role=row.role))
        except ServiceError as error:
            self._fail(request_id, error.detail, error.status_code)
            return
        except DBAPIError:
            self._fail(request_id, "database unavailable; nothing was recorded", 503)
            return
        except Exception as error:  # kept on the request: the client polls for it
            self._fail(request_id, f"{type(error).__name__}: {error}"[:2000], 500)
            return
        # recorded under this id: done, even if another process found its lease expired meanwhile
        self.requests.update_request(request_id, status=RunStatus.DONE, finished_at=utcnow())

    def _fail(self, request_id: str, error: str, status: int) -> None:
        self.requests.update_owned(
            request_id,
            owner=self.leases.owner,
            status=RunStatus.FAILED,
            error=error,
            error_status=status,
            finished_at=utcnow(),
        )

    def _pending(self, asked: _Request, row: SettlementRequest | None) -> StoredAnswer | None:
        """The background settlement under the key (``row``): its status, or restarted when it failed."""
        if row is None:
            return None
        if row.request_hash != asked.request_hash:
            raise Conflict(f"Idempotency-Key was already used with a different body (settlement {row.id})")
        if row.status == RunStatus.FAILED or self._is_orphaned(row):
            self._making_here(row.id)
            # taken by one thread or process only: another may have taken it since it was read
            if self.requests.take_over(row.id, was=row, owner=self.leases.owner, until=self.leases.until()):
                self.executor.submit(self._finish, row.id)
            else:
                self._made(row.id)
            row = self.requests.request(row.id) or row
        return request_answer(row, is_replay=True)

    def cached(self, settlement_id: str) -> bytes | None:
        """The body if this process holds it (no I/O): settlements never change once returned."""
        return self.bodies.get(settlement_id)

    def _prior(self, asked: _Request) -> Prior:
        return self.settlements.prior(asked.idempotency_key, asked.campaign_id, asked.start, asked.end)

    def _recorded(self, asked: _Request, actor: Principal, prior: Prior) -> StoredAnswer | None:
        """The settlement made under the key (a replay), or 409 when the period is settled under another."""
        by_key = prior.by_key
        if by_key is not None:
            if by_key.request_hash != asked.request_hash:
                raise Conflict(
                    f"Idempotency-Key was already used with a different body (settlement {by_key.id})"
                )
            with self.audit_trail.session() as session:
                self.audit_trail.record(
                    session, actor=actor.key_id, role=actor.role, action="settlement.replay", target=by_key.id
                )
            return StoredAnswer(body=by_key.body.encode(), is_replay=True)
        by_period = prior.by_period
        if by_period is not None:
            raise Conflict(
                f"campaign {asked.campaign_id} is already settled for this period: settlement {by_period.id}"
            )
        return None


def _request_hash(campaign_id: str, start: datetime, end: datetime) -> str:
    return hashlib.sha256(f"{campaign_id}\x1f{start.isoformat()}\x1f{end.isoformat()}".encode()).hexdigest()


def _all_settled(campaign_id: str, covering: list[str]) -> str:
    return (
        f"campaign {campaign_id}: every event of this period is settled already, "
        f"by settlement {', '.join(covering)}"
    )


_ORPHANED = (
    "interrupted: the settlement stopped before it was made (restart or database outage); "
    "post it again with the same key"
)
