"""Settlements: exactly once per idempotency key, each engagement at most once; corrections appended.

A settlement covers the engagements of its campaign and period that no earlier settlement
covered, and claims them in the engagement ledger in the transaction that records it (the
ledger's key refuses a second claim, so concurrent overlapping settlements cannot both pay
an event). A period whose events are all covered answers 409 naming the settlements that
cover them. A settlement that would run detection over more than the inline limit is made
in the background: 202, then ``GET /v1/settlements/{id}`` answers it when done.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.exc import DBAPIError, IntegrityError

from detectors.policy import decide_posts, unit_prices
from features.arrays import is_in
from features.schema import PAID_ACTIONS
from serving import faults
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc, utcnow
from serving.db.events import EventRepository
from serving.db.models import Campaign, DetectionRun, Settlement, SettlementRequest
from serving.db.runs import RunRepository
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, ScoredRun, campaigns_frame
from serving.errors import Conflict, NotFound, ServiceError, Unavailable
from serving.metrics import Metrics
from serving.money import ZERO, apportion, exact
from serving.schemas import PostLine, SettlementIn, SettlementOut, SettlementPending, Totals
from serving.statuses import Decision, RunStatus, SettlementStatus
from serving.store import EventStore
from serving.verdicts import RunVerdicts, VerdictIndex, Window, events_hash

DETECTION_UNAVAILABLE = "detection_unavailable"
# a concurrent settlement claimed some of our events: decide again without them, this often at most
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class StoredAnswer:
    """The stored body of an idempotent request's answer, and whether this call replayed it.

    ``status_code`` overrides the usual 201 (made) or 200 (replayed): 202 while a settlement
    is made in the background, or the error status a background settlement failed with.
    """

    body: bytes
    is_replay: bool
    status_code: int | None = None


class BodyCache:
    """Settlement bodies by id, least recently used dropped past ``max_bytes`` (they never change)."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, settlement_id: str) -> bytes | None:
        """The cached body, if any."""
        with self._lock:
            body = self._bodies.get(settlement_id)
            if body is not None:
                self._bodies.move_to_end(settlement_id)
            return body

    def put(self, settlement_id: str, body: bytes) -> None:
        """Keep a body (a body larger than the whole cache is not kept)."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if settlement_id in self._bodies:
                return
            self._bodies[settlement_id] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)


@dataclass(frozen=True)
class _Decided:
    posts: pd.DataFrame
    run_id: str | None
    input_hash: str
    n_events: int
    # the model that made the verdicts (a run's own, not whichever model is active now)
    model_version: str
    rules_version: str
    # the events decided on (event_id, ts): what the settlement claims in the ledger
    covered: pd.DataFrame
    n_already_settled: int = 0
    already_settled_by: tuple[str, ...] = ()


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
        self.verdict_index = VerdictIndex()
        self._finished_runs: dict[str, DetectionRun] = {}  # finished runs never change
        self._covered: dict[tuple[str, str], bool] = {}
        self._making: set[str] = set()  # background settlements this process is making
        self._making_lock = threading.Lock()
        detection.done_listeners.append(self.prepare)

    def prepare(self, scored: ScoredRun) -> None:
        """Index a finished run's verdicts for settling and check them against the stored events.

        Called with the run's window in memory when its verdicts are written, so the first
        settlement after the run pays for neither (see ``_covers``) and nothing is read back.
        """
        indexed = self.verdict_index.get(scored.run_id, lambda: scored.verdicts)
        run = self.runs.run(scored.run_id)
        if run is None:
            return
        for campaign_id in indexed.campaign_ids():
            self._check_covered(run, indexed, campaign_id)

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
        existing = self._recorded(asked, actor) or self._pending(asked)
        if existing is not None:
            return existing
        campaign = self.campaigns.campaign(request.campaign_id)
        if campaign is None:
            raise NotFound(f"campaign_id: no campaign {request.campaign_id!r}; register it with PUT first")
        n_open, covering = self.settlements.coverage(campaign.campaign_id, start, end)
        if n_open == 0 and covering:
            raise Conflict(_all_settled(campaign.campaign_id, covering))
        if self._is_large(campaign.campaign_id, start, end):
            return self._start_background(asked, actor)
        return self._settle_now(f"stl_{uuid.uuid4().hex}", campaign, asked, actor)

    def fail_interrupted(self) -> list[str]:
        """At start-up: background settlements cut off by a restart failed (POST again to retry)."""
        return self.settlements.fail_unfinished_requests(
            error="interrupted: the server stopped before the settlement was made; post it again"
        )

    def lookup(self, settlement_id: str) -> StoredAnswer:
        """A settlement's body, or while it is made in the background its status (202) or failure."""
        settlement = self.settlements.settlement(settlement_id)
        if settlement is not None:
            body = settlement.body.encode()
            self.bodies.put(settlement_id, body)
            return StoredAnswer(body=body, is_replay=True)
        row = self.settlements.request(settlement_id)
        if row is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        if self._is_orphaned(row):
            self._fail(row.id, _ORPHANED, 503)
            row = self.settlements.request(settlement_id) or row
        return _request_answer(row, is_replay=True)

    def _is_orphaned(self, row: SettlementRequest) -> bool:
        """Queued or running, yet not being made here: cut off by a restart or by a database outage
        that kept it from recording its end."""
        with self._making_lock:
            return row.status in (RunStatus.QUEUED, RunStatus.RUNNING) and row.id not in self._making

    def _settle_now(
        self, settlement_id: str, campaign: Campaign, asked: _Request, actor: Principal
    ) -> StoredAnswer:
        """Decide, build and record the settlement, deciding again if a concurrent one claimed events."""
        for _ in range(_CLAIM_ATTEMPTS):
            settled = self.settlements.settled_in(campaign.campaign_id, asked.start, asked.end)
            decided = self._decide(campaign, asked.start, asked.end, actor, settled)
            if decided.n_events == 0 and decided.already_settled_by:
                raise Conflict(_all_settled(campaign.campaign_id, list(decided.already_settled_by)))
            out = self._build(settlement_id, campaign, asked.start, asked.end, decided)
            body = out.model_dump_json().encode()
            try:
                self._record(out, body, decided.covered, asked=asked, actor=actor)
            except IntegrityError:
                # a twin with our key or period won (answer as if we had arrived second), or an
                # overlapping settlement claimed some of our events first (decide without them)
                existing = self._recorded(asked, actor)
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

    def _is_large(self, campaign_id: str, start: datetime, end: datetime) -> bool:
        """Whether settling would run detection inline over more events than the inline limit."""
        if self.detection.reusable_run(start=start, end=end, campaign_id=campaign_id) is not None:
            return False
        return self.events.count_events(start=start, end=end) > self.detection.sync_max_events

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
        )
        with self._making_lock:
            self._making.add(row.id)  # before its row exists, so no lookup finds it orphaned
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
            existing = self._recorded(asked, actor) or self._pending(asked)
            if existing is None:
                raise
            return existing
        self.executor.submit(self._finish, row.id)
        return _request_answer(row, is_replay=False)

    def _finish(self, request_id: str) -> None:
        """Make a queued settlement (in the executor); a failure is kept with its HTTP status."""
        try:
            row = self.settlements.request(request_id)
        except BaseException:
            self._made(request_id)
            raise
        if row is None or row.status != RunStatus.QUEUED:
            return  # made already, or by the call that took it first
        try:
            self._make(row)
        finally:
            self._made(request_id)

    def _made(self, request_id: str) -> None:
        with self._making_lock:
            self._making.discard(request_id)

    def _make(self, row: SettlementRequest) -> None:
        request_id = row.id
        self.settlements.update_request(request_id, status=RunStatus.RUNNING)
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
        self.settlements.update_request(request_id, status=RunStatus.DONE, finished_at=utcnow())

    def _fail(self, request_id: str, error: str, status: int) -> None:
        self.settlements.update_request(
            request_id, status=RunStatus.FAILED, error=error, error_status=status, finished_at=utcnow()
        )

    def _pending(self, asked: _Request) -> StoredAnswer | None:
        """The background settlement under the key: its status, or restarted when it failed."""
        row = self.settlements.request_by_key(asked.idempotency_key)
        if row is None:
            return None
        if row.request_hash != asked.request_hash:
            raise Conflict(f"Idempotency-Key was already used with a different body (settlement {row.id})")
        if row.status == RunStatus.FAILED or self._is_orphaned(row):
            with self._making_lock:
                self._making.add(row.id)
            self.settlements.update_request(row.id, status=RunStatus.QUEUED, error="", error_status=0)
            self.executor.submit(self._finish, row.id)
            row = self.settlements.request(row.id) or row
        return _request_answer(row, is_replay=True)

    def cached(self, settlement_id: str) -> bytes | None:
        """The body if this process holds it (no I/O): settlements never change once returned."""
        return self.bodies.get(settlement_id)

    def _recorded(self, asked: _Request, actor: Principal) -> StoredAnswer | None:
        by_key = self.settlements.settlement_by_key(asked.idempotency_key)
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
        by_period = self.settlements.settlement_by_period(asked.campaign_id, asked.start, asked.end)
        if by_period is not None:
            raise Conflict(
                f"campaign {asked.campaign_id} is already settled for this period: settlement {by_period.id}"
            )
        return None

    def _decide(
        self, campaign: Campaign, start: datetime, end: datetime, actor: Principal, settled: Mapping[str, str]
    ) -> _Decided:
        """The campaign's posts decided over the period's events that ``settled`` does not hold."""
        champion = self.detection.models().champion
        prices = campaigns_frame([campaign])
        campaign_id = campaign.campaign_id
        if not self.events.has_events(start=start, end=end, campaign_id=campaign_id):
            return _Decided(
                posts=_no_posts(),
                run_id=None,
                input_hash=events_hash(pd.DataFrame()),
                n_events=0,
                model_version=champion.version,
                rules_version=champion.rules_version,
                covered=pd.DataFrame({"event_id": [], "ts": []}),
            )
        try:
            run_id, window, posts, left_out = self._decide_by_run(
                campaign_id, start, end, prices, actor, settled
            )
        except Exception:
            # fail safe: without a verdict nothing is paid; everything waits for a human
            try:
                events = self.detection.stored_events(
                    start=start,
                    end=end,
                    campaign_id=campaign_id,
                    through_batch=self.detection.published_batch(),
                )
            except OSError:
                raise Unavailable("event store unavailable; nothing was recorded") from None
            events, left_out = _unsettled(events, settled)
            posts = _held_for_review(
                events, prices, default_unit_price=champion.params.policy.default_unit_price
            )
            covered = events.drop_duplicates("event_id", keep="first")[["event_id", "ts"]]
            return _Decided(
                posts=posts,
                run_id=None,
                input_hash=events_hash(events),
                n_events=len(covered),
                model_version=champion.version,
                rules_version=champion.rules_version,
                covered=covered,
                n_already_settled=len(left_out),
                already_settled_by=_settled_by(left_out, settled),
            )
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        return _Decided(
            posts=posts,
            run_id=run_id,
            input_hash=window.input_hash,
            n_events=len(window.verdicts),
            model_version=run.model_version if run is not None else champion.version,
            rules_version=run.rules_version if run is not None else champion.rules_version,
            covered=window.verdicts[["event_id", "ts"]],
            n_already_settled=len(left_out),
            already_settled_by=_settled_by(left_out, settled),
        )

    def _decide_by_run(
        self,
        campaign_id: str,
        start: datetime,
        end: datetime,
        prices: pd.DataFrame,
        actor: Principal,
        settled: Mapping[str, str],
    ) -> tuple[str, Window, pd.DataFrame, list[str]]:
        """The covering run, the campaign's window of its verdicts not yet settled, the posts decided
        on it, and the window's events left out (settled already)."""
        run_id = self.detection.current_run(start=start, end=end, campaign_id=campaign_id, actor=actor)
        # the run's own thresholds: the settlement names its model and rules version
        params = self.detection.params(run_id)
        indexed = self.verdict_index.get(run_id, lambda: self.detection.verdicts(run_id))
        window = indexed.window(
            campaign_id, start, end, prices=prices, default_unit_price=params.policy.default_unit_price
        )
        if not self._covers(run_id, indexed, campaign_id) and len(window.verdicts) != (
            self.events.count_events(start=start, end=end, campaign_id=campaign_id)
        ):
            raise RuntimeError("detection verdicts do not cover every event of the period")
        window, left_out = _unsettled_window(window, settled)
        if left_out:
            return (
                run_id,
                window,
                decide_posts(window.verdicts, price=window.price, policy=params.policy),
                left_out,
            )
        scored = self.detection.scored(run_id)
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        posts = (
            decided_in_scoring(scored, run, indexed, window, (start, end), prices)
            if scored is not None and run is not None
            else None
        )
        if posts is None:
            posts = decide_posts(window.verdicts, price=window.price, policy=params.policy)
        return run_id, window, posts, left_out

    def _covers(self, run_id: str, indexed: RunVerdicts, campaign_id: str) -> bool:
        """Whether the run's verdicts are exactly the campaign's stored events, in any window.

        True when no batch arrived since the run began and, over the run's whole period,
        the campaign has as many stored events as verdicts (checked once per run and
        campaign). The run read every event committed before it began, so equal counts
        mean equal sets. Otherwise the caller counts the window's events itself.
        """
        run = self._finished_runs.get(run_id)
        if run is None:
            run = self.runs.run(run_id)
            if run is None or run.status != RunStatus.DONE:
                return False
            self._finished_runs[run_id] = run
        if self.events.last_batch_id() > run.last_batch_id:
            return False
        return self._check_covered(run, indexed, campaign_id)

    def _check_covered(self, run: DetectionRun, indexed: RunVerdicts, campaign_id: str) -> bool:
        key = (run.id, campaign_id)
        if key not in self._covered:
            stored = self.events.count_events(
                start=as_utc(run.period_start), end=as_utc(run.period_end), campaign_id=campaign_id
            )
            self._covered[key] = stored == indexed.campaign_size(campaign_id)
        return self._covered[key]

    def _build(
        self, settlement_id: str, campaign: Campaign, start: datetime, end: datetime, decided: _Decided
    ) -> SettlementOut:
        lines = post_lines(decided.posts)
        claimed = sum((line.claimed_amount for line in lines), ZERO)
        payable = sum((line.payable for line in lines), ZERO)
        held = sum((line.held_amount for line in lines), ZERO)
        withheld = claimed - payable
        share = round(float(withheld / claimed), 6) if claimed > 0 else 0.0
        needs_signoff = share > self.signoff_withheld_share
        return SettlementOut(
            settlement_id=settlement_id,
            campaign_id=campaign.campaign_id,
            period_start=start,
            period_end=end,
            currency=campaign.currency,
            status=SettlementStatus.NEEDS_SIGNOFF if needs_signoff else SettlementStatus.SETTLED,
            needs_signoff=needs_signoff,
            detection_run_id=decided.run_id,
            model_version=decided.model_version,
            rules_version=decided.rules_version,
            input_hash=decided.input_hash,
            n_events=decided.n_events,
            n_events_already_settled=decided.n_already_settled,
            already_settled_by=list(decided.already_settled_by),
            totals=Totals(
                claimed=claimed, payable=payable, held=held, withheld=withheld, withheld_share=share
            ),
            posts=lines,
            created_at=utcnow(),
        )

    def _record(
        self, out: SettlementOut, body: bytes, covered: pd.DataFrame, *, asked: _Request, actor: Principal
    ) -> None:
        """Record the settlement, its lines, its claim on ``covered`` events in the ledger, and audit it."""
        with self.settlements.session() as session:
            session.add(
                Settlement(
                    id=out.settlement_id,
                    idempotency_key=asked.idempotency_key,
                    request_hash=asked.request_hash,
                    campaign_id=out.campaign_id,
                    period_start=out.period_start,
                    period_end=out.period_end,
                    run_id=out.detection_run_id,
                    status=out.status,
                    claimed_amount=out.totals.claimed,
                    payable_amount=out.totals.payable,
                    held_amount=out.totals.held,
                    body=body.decode(),
                    actor=actor.key_id,
                    created_at=out.created_at,
                )
            )
            session.flush()
            self.settlements.add_settlement_posts(
                session,
                [
                    (
                        out.settlement_id,
                        line.post_id,
                        line.creator_id,
                        line.decision,
                        line.payable,
                        line.held_amount,
                    )
                    for line in out.posts
                ],
            )
            self.settlements.add_to_ledger(session, _ledger_rows(out, covered))
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="settlement.create",
                target=out.settlement_id,
                detail={
                    "idempotency_key": asked.idempotency_key,
                    "campaign_id": out.campaign_id,
                    "period_start": out.period_start,
                    "period_end": out.period_end,
                    "status": out.status,
                    "payable": str(out.totals.payable),
                    "held": str(out.totals.held),
                    "input_hash": out.input_hash,
                    "n_events": out.n_events,
                    "n_events_already_settled": out.n_events_already_settled,
                },
            )
            session.flush()
            faults.point("settlement_before_commit")


def decided_in_scoring(
    scored: ScoredRun,
    run: DetectionRun,
    indexed: RunVerdicts,
    window: Window,
    period: tuple[datetime, datetime],
    prices: pd.DataFrame,
) -> pd.DataFrame | None:
    """The campaign's posts as scoring decided them, if deciding ``window`` again gives the same numbers.

    None otherwise (the caller then decides the window). The same numbers need the same
    input, thresholds and sums: the window is the run's whole period of the campaign
    (``prices``' one campaign), the run scored it with the campaign's current prices, the
    settlement decides with the run's params (``DetectionService.params``), the campaign's
    posts share no post_id with each other or another campaign (reasons are gathered per
    post_id), and its verdicts are in scoring's row order (each post's sums add the same
    floats in the same order).
    """
    campaign_id = str(prices["campaign_id"].iloc[0])
    if period != (as_utc(run.period_start), as_utc(run.period_end)):
        return None
    if len(window.verdicts) != indexed.campaign_size(campaign_id) or not indexed.in_given_order(campaign_id):
        return None
    priced = scored.campaigns.loc[scored.campaigns["campaign_id"] == campaign_id].reset_index(drop=True)
    if not priced.equals(prices.reset_index(drop=True)):
        return None
    post_ids = scored.posts["post_id"].astype("str")
    is_mine = (scored.posts["campaign_id"].astype("str") == campaign_id).to_numpy()
    mine = post_ids[is_mine]
    if mine.duplicated().any() or mine.isin(post_ids[~is_mine]).any():
        return None
    return scored.posts.loc[is_mine].reset_index(drop=True)


def _request_hash(campaign_id: str, start: datetime, end: datetime) -> str:
    return hashlib.sha256(f"{campaign_id}\x1f{start.isoformat()}\x1f{end.isoformat()}".encode()).hexdigest()


def post_lines(posts: pd.DataFrame) -> list[PostLine]:
    """One line per post, by post_id, its money by the rule of ``serving.money``.

    A line's claimed money is cut in three, each apportioned over the lines on its own:
    payable, held, and the rest withheld (invalid engagements and replays).
    """
    ordered = posts.assign(post_id=posts["post_id"].astype("str")).sort_values("post_id")
    reasons = ordered["reasons"] if "reasons" in ordered else pd.Series("", index=ordered.index)
    payable = [exact(v) for v in ordered["payable"].tolist()]
    held = [exact(v) for v in ordered["held_amount"].tolist()]
    rest = [
        max(exact(c) - p - h, ZERO)
        for c, p, h in zip(ordered["claimed_amount"].tolist(), payable, held, strict=True)
    ]
    payable, held, rest = apportion(payable), apportion(held), apportion(rest)
    columns = {
        "post_id": ordered["post_id"].tolist(),
        "creator_id": ordered["creator_id"].astype("str").tolist(),
        "claimed": ordered["claimed"].astype("int64").tolist(),
        "valid": ordered["valid"].astype("int64").tolist(),
        "decision": ordered["decision"].astype("str").tolist(),
        "payable": payable,
        "held_amount": held,
        "withheld_amount": [h + r for h, r in zip(held, rest, strict=True)],
        "reasons": [[r for r in text.split(";") if r] for text in reasons.fillna("").astype("str").tolist()],
    }
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return [PostLine(**row, claimed_amount=row["payable"] + row["withheld_amount"]) for row in rows]


def _unsettled(events: pd.DataFrame, settled: Mapping[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The events no settlement covers, and the ids of those left out."""
    if events.empty or not settled:
        return events, []
    is_settled = events["event_id"].astype("str").isin(pd.Index(list(settled)))
    left_out = events.loc[is_settled, "event_id"].astype("str").unique().tolist()
    return events.loc[~is_settled].reset_index(drop=True), left_out


def _unsettled_window(window: Window, settled: Mapping[str, str]) -> tuple[Window, list[str]]:
    """The window without the events settled already (hashed again), and their ids."""
    verdicts, left_out = _unsettled(window.verdicts, settled)
    if not left_out:
        return window, []
    is_kept = ~window.verdicts["event_id"].astype("str").isin(pd.Index(left_out)).to_numpy()
    return Window(verdicts=verdicts, input_hash=events_hash(verdicts), price=window.price[is_kept]), left_out


def _settled_by(left_out: list[str], settled: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(sorted({settled[event_id] for event_id in left_out}))


def _all_settled(campaign_id: str, covering: list[str]) -> str:
    return (
        f"campaign {campaign_id}: every event of this period is settled already, "
        f"by settlement {', '.join(covering)}"
    )


def _ledger_rows(out: SettlementOut, covered: pd.DataFrame) -> list[tuple[str, str, str, datetime]]:
    """The ledger rows of the events a settlement covers (times to the microsecond, as stored)."""
    moments = pd.to_datetime(covered["ts"], utc=True).dt.floor("us").dt.to_pydatetime()
    return [
        (str(event_id), out.settlement_id, out.campaign_id, moment)
        for event_id, moment in zip(covered["event_id"].tolist(), moments, strict=True)
    ]


_ORPHANED = (
    "interrupted: the settlement stopped before it was made (restart or database outage); "
    "post it again with the same key"
)


def _request_answer(row: SettlementRequest, *, is_replay: bool) -> StoredAnswer:
    """A background settlement's status (202), or the error it failed with (its HTTP status)."""
    if row.status == RunStatus.FAILED:
        body = json.dumps({"detail": row.error}).encode()
        return StoredAnswer(body=body, is_replay=is_replay, status_code=row.error_status or 500)
    pending = SettlementPending(
        settlement_id=row.id,
        campaign_id=row.campaign_id,
        period_start=as_utc(row.period_start),
        period_end=as_utc(row.period_end),
        status=row.status,
        status_url=f"/v1/settlements/{row.id}",
        created_at=as_utc(row.created_at),
    )
    return StoredAnswer(body=pending.model_dump_json().encode(), is_replay=is_replay, status_code=202)


def _no_posts() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "post_id",
            "creator_id",
            "claimed",
            "valid",
            "decision",
            "claimed_amount",
            "payable",
            "held_amount",
            "reasons",
        ]
    )


def _held_for_review(
    events: pd.DataFrame, prices: pd.DataFrame, *, default_unit_price: float
) -> pd.DataFrame:
    """Every post on hold with nothing payable: the answer when detection is unavailable."""
    frame = events.assign(copies=1)
    price = unit_prices(frame, prices, default_unit_price=default_unit_price)
    is_paid = is_in(frame["action"], PAID_ACTIONS)
    posts = (
        pd.DataFrame(
            {
                "post_id": frame["post_id"].astype("str").to_numpy(),
                "creator_id": frame["creator_id"].astype("str").to_numpy(),
                "claimed": is_paid.astype(np.int64),
                "claimed_amount": price,
            }
        )
        .groupby(["post_id", "creator_id"], sort=True)
        .sum()
        .reset_index()
    )
    posts["valid"] = 0
    posts["decision"] = Decision.HOLD.value
    posts["payable"] = 0.0
    posts["held_amount"] = posts["claimed_amount"]
    posts["reasons"] = DETECTION_UNAVAILABLE
    return posts
