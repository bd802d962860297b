"""Settlements: exactly once per idempotency key and per campaign x period; corrections appended."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from detectors.policy import decide_posts, unit_prices
from features.codes import is_in
from features.schema import PAID_ACTIONS
from serving.auth import Principal
from serving.db.models import Adjustment, Campaign, Settlement, SettlementPost
from serving.db.repository import Repository, as_utc, utcnow
from serving.detection import DetectionService, campaigns_frame, events_hash, to_decimal
from serving.errors import Conflict, Invalid, NotFound, Unavailable
from serving.metrics import Metrics
from serving.schemas import AdjustmentIn, AdjustmentOut, PostLine, SettlementIn, SettlementOut, Totals
from serving.store import EventStore

DETECTION_UNAVAILABLE = "detection_unavailable"
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class SettleResult:
    """The stored body of a settlement, and whether this call replayed it."""

    body: bytes
    is_replay: bool


@dataclass(frozen=True)
class _Decided:
    posts: pd.DataFrame
    run_id: str | None
    input_hash: str
    n_events: int


class SettlementService:
    """Creates, replays and adjusts settlements; the stored body is the answer, byte for byte."""

    def __init__(
        self,
        *,
        repository: Repository,
        store: EventStore,
        detection: DetectionService,
        signoff_withheld_share: float,
        metrics: Metrics,
    ) -> None:
        self.repository = repository
        self.store = store
        self.detection = detection
        self.signoff_withheld_share = signoff_withheld_share
        self.metrics = metrics

    def settle(self, request: SettlementIn, *, idempotency_key: str, actor: Principal) -> SettleResult:
        """Settle a campaign's period once; a replay returns the stored body, a clash raises 409."""
        start, end = as_utc(request.period_start), as_utc(request.period_end)
        request_hash = _request_hash(request.campaign_id, start, end)
        existing = self._recorded(idempotency_key, request_hash, request.campaign_id, start, end, actor)
        if existing is not None:
            return existing
        campaign = self.repository.campaign(request.campaign_id)
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
        self.metrics.record_settlement(out)
        return SettleResult(body=body, is_replay=False)

    def get(self, settlement_id: str) -> bytes:
        """The stored body of a settlement, exactly as first returned."""
        settlement = self.repository.settlement(settlement_id)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        return settlement.body.encode()

    def adjust(self, settlement_id: str, request: AdjustmentIn, *, actor: Principal) -> AdjustmentOut:
        """Append a release (of held money) or clawback (of paid money) to one post of a settlement."""
        with self.repository.session() as session:
            settlement = session.get(Settlement, settlement_id, with_for_update=True)
            if settlement is None:
                raise NotFound(f"no settlement {settlement_id!r}")
            line = session.get(SettlementPost, (settlement_id, request.post_id))
            if line is None:
                raise NotFound(f"post_id: post {request.post_id!r} is not in settlement {settlement_id}")
            prior = [
                a for a in self.repository.adjustments(session, settlement_id) if a.post_id == line.post_id
            ]
            released = sum((a.amount for a in prior if a.kind == "release"), _ZERO)
            clawed = sum((a.amount for a in prior if a.kind == "clawback"), _ZERO)
            room = (
                line.held_amount - released if request.kind == "release" else line.payable + released - clawed
            )
            if request.amount > room:
                raise Invalid(
                    f"amount: a {request.kind} of {request.amount} exceeds the {room} available "
                    f"on post {line.post_id}"
                )
            adjustment = Adjustment(
                id=f"adj_{uuid.uuid4().hex}",
                settlement_id=settlement_id,
                post_id=line.post_id,
                kind=request.kind,
                amount=request.amount,
                reason=request.reason,
                actor=actor.key_id,
                created_at=utcnow(),
            )
            session.add(adjustment)
            self.repository.audit(
                session,
                actor=actor.key_id,
                role=actor.role,
                action=f"adjustment.{request.kind}",
                target=settlement_id,
                detail={
                    "adjustment_id": adjustment.id,
                    "post_id": line.post_id,
                    "amount": str(request.amount),
                    "reason": request.reason,
                },
            )
        return _adjustment_out(adjustment)

    def adjustments(self, settlement_id: str) -> list[AdjustmentOut]:
        """A settlement's adjustments, oldest first."""
        if self.repository.settlement(settlement_id) is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        with self.repository.session() as session:
            return [_adjustment_out(a) for a in self.repository.adjustments(session, settlement_id)]

    def _recorded(
        self, key: str, request_hash: str, campaign_id: str, start: datetime, end: datetime, actor: Principal
    ) -> SettleResult | None:
        by_key = self.repository.settlement_by_key(key)
        if by_key is not None:
            if by_key.request_hash != request_hash:
                raise Conflict(
                    f"Idempotency-Key was already used with a different body (settlement {by_key.id})"
                )
            with self.repository.session() as session:
                self.repository.audit(
                    session, actor=actor.key_id, role=actor.role, action="settlement.replay", target=by_key.id
                )
            return SettleResult(body=by_key.body.encode(), is_replay=True)
        by_period = self.repository.settlement_by_period(campaign_id, start, end)
        if by_period is not None:
            raise Conflict(
                f"campaign {campaign_id} is already settled for this period: settlement {by_period.id}"
            )
        return None

    def _decide(self, campaign: Campaign, start: datetime, end: datetime, actor: Principal) -> _Decided:
        try:
            events = self.store.read(start=start, end=end, campaign_id=campaign.campaign_id)
        except OSError:
            raise Unavailable("event store unavailable; nothing was recorded") from None
        prices = campaigns_frame([campaign])
        params = self.detection.model.params
        if events.empty:
            return _Decided(posts=_no_posts(), run_id=None, input_hash=events_hash(events), n_events=0)
        try:
            run_id = self.detection.current_run(
                start=start, end=end, campaign_id=campaign.campaign_id, actor=actor
            )
            verdicts = self.detection.verdicts(run_id)
            ts = pd.to_datetime(verdicts["ts"], utc=True)
            mine = verdicts.loc[
                ((verdicts["campaign_id"] == campaign.campaign_id) & (ts >= start) & (ts < end)).to_numpy()
            ].reset_index(drop=True)
            if len(mine) != len(events):
                raise RuntimeError("detection verdicts do not cover every event of the period")
            posts = decide_posts(
                mine,
                price=unit_prices(mine, prices, default_unit_price=params.default_unit_price),
                hold_invalid_share=params.hold_invalid_share,
                hold_uncertain_share=params.hold_uncertain_share,
                review_risk=params.review_risk,
                invalid_risk=params.invalid_risk,
            )
        except Exception:
            # fail safe: without a verdict nothing is paid; everything waits for a human
            posts = _held_for_review(events, prices, default_unit_price=params.default_unit_price)
            run_id = None
        return _Decided(posts=posts, run_id=run_id, input_hash=events_hash(events), n_events=len(events))

    def _build(
        self, settlement_id: str, campaign: Campaign, start: datetime, end: datetime, decided: _Decided
    ) -> SettlementOut:
        lines = [_line(row) for row in decided.posts.sort_values("post_id").itertuples()]
        claimed = sum((line.claimed_amount for line in lines), _ZERO)
        payable = sum((line.payable for line in lines), _ZERO)
        held = sum((line.held_amount for line in lines), _ZERO)
        withheld = claimed - payable
        share = round(float(withheld / claimed), 6) if claimed > 0 else 0.0
        needs_signoff = share > self.signoff_withheld_share
        model = self.detection.model
        return SettlementOut(
            settlement_id=settlement_id,
            campaign_id=campaign.campaign_id,
            period_start=start,
            period_end=end,
            currency=campaign.currency,
            status="needs_signoff" if needs_signoff else "settled",
            needs_signoff=needs_signoff,
            detection_run_id=decided.run_id,
            model_version=model.version,
            rules_version=model.rules_version,
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
        with self.repository.session() as session:
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
            if out.posts:
                session.execute(
                    insert(SettlementPost),
                    [
                        {
                            "settlement_id": out.settlement_id,
                            "post_id": line.post_id,
                            "creator_id": line.creator_id,
                            "decision": line.decision,
                            "payable": line.payable,
                            "held_amount": line.held_amount,
                        }
                        for line in out.posts
                    ],
                )
            self.repository.audit(
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


def _request_hash(campaign_id: str, start: datetime, end: datetime) -> str:
    return hashlib.sha256(f"{campaign_id}\x1f{start.isoformat()}\x1f{end.isoformat()}".encode()).hexdigest()


def _line(row: object) -> PostLine:
    reasons = str(getattr(row, "reasons", "") or "")
    return PostLine(
        post_id=str(row.post_id),  # type: ignore[attr-defined]
        creator_id=str(row.creator_id),  # type: ignore[attr-defined]
        claimed=int(row.claimed),  # type: ignore[attr-defined]
        valid=int(row.valid),  # type: ignore[attr-defined]
        decision=str(row.decision),  # type: ignore[attr-defined, arg-type]
        claimed_amount=to_decimal(row.claimed_amount),  # type: ignore[attr-defined]
        payable=to_decimal(row.payable),  # type: ignore[attr-defined]
        held_amount=to_decimal(row.held_amount),  # type: ignore[attr-defined]
        withheld_amount=to_decimal(row.claimed_amount) - to_decimal(row.payable),  # type: ignore[attr-defined]
        reasons=[r for r in reasons.split(";") if r],
    )


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
    posts["decision"] = "hold"
    posts["payable"] = 0.0
    posts["held_amount"] = posts["claimed_amount"]
    posts["reasons"] = DETECTION_UNAVAILABLE
    return posts


def _adjustment_out(adjustment: Adjustment) -> AdjustmentOut:
    return AdjustmentOut(
        adjustment_id=adjustment.id,
        settlement_id=adjustment.settlement_id,
        post_id=adjustment.post_id,
        kind=adjustment.kind,
        amount=adjustment.amount,
        reason=adjustment.reason,
        actor=adjustment.actor,
        created_at=as_utc(adjustment.created_at),
    )
