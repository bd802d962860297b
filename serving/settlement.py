"""Settlements: exactly once per idempotency key and per campaign x period; corrections appended."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from detectors.policy import decide_posts, unit_prices
from features.arrays import is_in
from features.schema import PAID_ACTIONS
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc, utcnow
from serving.db.events import EventRepository
from serving.db.models import Campaign, DetectionRun, Settlement
from serving.db.runs import RunRepository
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, ScoredRun, campaigns_frame, to_decimal
from serving.errors import Conflict, NotFound, Unavailable
from serving.metrics import Metrics
from serving.schemas import PostLine, SettlementIn, SettlementOut, Totals
from serving.statuses import Decision, RunStatus, SettlementStatus
from serving.store import EventStore
from serving.verdicts import RunVerdicts, VerdictIndex, Window, events_hash

DETECTION_UNAVAILABLE = "detection_unavailable"
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class StoredAnswer:
    """The stored body of an idempotent request's answer, and whether this call replayed it."""

    body: bytes
    is_replay: bool


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
        self.bodies = BodyCache(max_bytes=body_cache_bytes)
        self.verdict_index = VerdictIndex()
        self._finished_runs: dict[str, DetectionRun] = {}  # finished runs never change
        self._covered: dict[tuple[str, str], bool] = {}
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
        """Settle a campaign's period once; a replay returns the stored body, a clash raises 409."""
        start, end = as_utc(request.period_start), as_utc(request.period_end)
        request_hash = _request_hash(request.campaign_id, start, end)
        existing = self._recorded(idempotency_key, request_hash, request.campaign_id, start, end, actor)
        if existing is not None:
            return existing
        campaign = self.campaigns.campaign(request.campaign_id)
        if campaign is None:
            raise NotFound(f"campaign_id: no campaign {request.campaign_id!r}; register it with PUT first")
        decided = self._decide(campaign, start, end, actor)
        settlement_id = f"stl_{uuid.uuid4().hex}"
        out = self._build(settlement_id, campaign, start, end, decided)
        body = out.model_dump_json().encode()
        try:
            self._record(out, body, idempotency_key=idempotency_key, request_hash=request_hash, actor=actor)
        except IntegrityError:
            # a concurrent twin won the race: answer as if we had arrived second
            existing = self._recorded(idempotency_key, request_hash, request.campaign_id, start, end, actor)
            if existing is None:
                raise
            return existing
        self.bodies.put(settlement_id, body)
        self.metrics.record_settlement(out)
        return StoredAnswer(body=body, is_replay=False)

    def get(self, settlement_id: str) -> bytes:
        """The stored body of a settlement, exactly as first returned."""
        body = self.bodies.get(settlement_id)
        if body is not None:
            return body
        settlement = self.settlements.settlement(settlement_id)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        body = settlement.body.encode()
        self.bodies.put(settlement_id, body)
        return body

    def cached(self, settlement_id: str) -> bytes | None:
        """The body if this process holds it (no I/O): settlements never change once returned."""
        return self.bodies.get(settlement_id)

    def _recorded(
        self, key: str, request_hash: str, campaign_id: str, start: datetime, end: datetime, actor: Principal
    ) -> StoredAnswer | None:
        by_key = self.settlements.settlement_by_key(key)
        if by_key is not None:
            if by_key.request_hash != request_hash:
                raise Conflict(
                    f"Idempotency-Key was already used with a different body (settlement {by_key.id})"
                )
            with self.audit_trail.session() as session:
                self.audit_trail.record(
                    session, actor=actor.key_id, role=actor.role, action="settlement.replay", target=by_key.id
                )
            return StoredAnswer(body=by_key.body.encode(), is_replay=True)
        by_period = self.settlements.settlement_by_period(campaign_id, start, end)
        if by_period is not None:
            raise Conflict(
                f"campaign {campaign_id} is already settled for this period: settlement {by_period.id}"
            )
        return None

    def _decide(self, campaign: Campaign, start: datetime, end: datetime, actor: Principal) -> _Decided:
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
            )
        try:
            run_id, window, posts = self._decide_by_run(campaign_id, start, end, prices, actor)
        except Exception:
            # fail safe: without a verdict nothing is paid; everything waits for a human
            try:
                events = self.store.read(start=start, end=end, campaign_id=campaign_id)
            except OSError:
                raise Unavailable("event store unavailable; nothing was recorded") from None
            posts = _held_for_review(
                events, prices, default_unit_price=champion.params.policy.default_unit_price
            )
            return _Decided(
                posts=posts,
                run_id=None,
                input_hash=events_hash(events),
                n_events=int(events["event_id"].nunique()) if len(events) else 0,
                model_version=champion.version,
                rules_version=champion.rules_version,
            )
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        return _Decided(
            posts=posts,
            run_id=run_id,
            input_hash=window.input_hash,
            n_events=len(window.verdicts),
            model_version=run.model_version if run is not None else champion.version,
            rules_version=run.rules_version if run is not None else champion.rules_version,
        )

    def _decide_by_run(
        self, campaign_id: str, start: datetime, end: datetime, prices: pd.DataFrame, actor: Principal
    ) -> tuple[str, Window, pd.DataFrame]:
        """The covering run, the campaign's window of its verdicts, and the posts decided on it."""
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
        scored = self.detection.scored(run_id)
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        posts = (
            decided_in_scoring(scored, run, indexed, window, (start, end), prices)
            if scored is not None and run is not None
            else None
        )
        if posts is None:
            posts = decide_posts(window.verdicts, price=window.price, policy=params.policy)
        return run_id, window, posts

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
        lines = _lines(decided.posts)
        claimed = sum((line.claimed_amount for line in lines), _ZERO)
        payable = sum((line.payable for line in lines), _ZERO)
        held = sum((line.held_amount for line in lines), _ZERO)
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
            totals=Totals(
                claimed=claimed, payable=payable, held=held, withheld=withheld, withheld_share=share
            ),
            posts=lines,
            created_at=utcnow(),
        )

    def _record(
        self, out: SettlementOut, body: bytes, *, idempotency_key: str, request_hash: str, actor: Principal
    ) -> None:
        with self.settlements.session() as session:
            session.add(
                Settlement(
                    id=out.settlement_id,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
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
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="settlement.create",
                target=out.settlement_id,
                detail={
                    "idempotency_key": idempotency_key,
                    "campaign_id": out.campaign_id,
                    "period_start": out.period_start,
                    "period_end": out.period_end,
                    "status": out.status,
                    "payable": str(out.totals.payable),
                    "held": str(out.totals.held),
                    "input_hash": out.input_hash,
                },
            )


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


def _lines(posts: pd.DataFrame) -> list[PostLine]:
    """One line per post, by post_id."""
    ordered = posts.assign(post_id=posts["post_id"].astype("str")).sort_values("post_id")
    reasons = ordered["reasons"] if "reasons" in ordered else pd.Series("", index=ordered.index)
    columns = {
        "post_id": ordered["post_id"].tolist(),
        "creator_id": ordered["creator_id"].astype("str").tolist(),
        "claimed": ordered["claimed"].astype("int64").tolist(),
        "valid": ordered["valid"].astype("int64").tolist(),
        "decision": ordered["decision"].astype("str").tolist(),
        "claimed_amount": [to_decimal(v) for v in ordered["claimed_amount"].tolist()],
        "payable": [to_decimal(v) for v in ordered["payable"].tolist()],
        "held_amount": [to_decimal(v) for v in ordered["held_amount"].tolist()],
        "reasons": [[r for r in text.split(";") if r] for text in reasons.fillna("").astype("str").tolist()],
    }
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return [PostLine(**row, withheld_amount=row["claimed_amount"] - row["payable"]) for row in rows]


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
