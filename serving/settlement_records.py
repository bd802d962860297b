"""A settlement's answer and its rows: the body returned byte for byte, the lines, the ledger claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from serving import faults
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.claims import Claim
from serving.db.database import utcnow
from serving.db.models import Campaign, Settlement
from serving.db.settlements import SettlementRepository
from serving.money import ZERO, apportion, exact
from serving.schemas import PostLine, SettlementOut, Totals
from serving.settlement_posts import Decided
from serving.statuses import SettlementStatus


def settlement_out(
    settlement_id: str,
    campaign: Campaign,
    start: datetime,
    end: datetime,
    decided: Decided,
    *,
    signoff_withheld_share: float,
) -> SettlementOut:
    """The settlement's answer: its post lines and totals, signed off above ``signoff_withheld_share``."""
    lines = post_lines(decided.posts)
    claimed = sum((line.claimed_amount for line in lines), ZERO)
    payable = sum((line.payable for line in lines), ZERO)
    held = sum((line.held_amount for line in lines), ZERO)
    withheld = claimed - payable
    share = round(float(withheld / claimed), 6) if claimed > 0 else 0.0
    needs_signoff = share > signoff_withheld_share
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
        totals=Totals(claimed=claimed, payable=payable, held=held, withheld=withheld, withheld_share=share),
        posts=lines,
        created_at=utcnow(),
    )


def record_settlement(
    settlements: SettlementRepository,
    audit_trail: AuditRepository,
    out: SettlementOut,
    body: bytes,
    claim: Claim,
    *,
    idempotency_key: str,
    request_hash: str,
    actor: Principal,
) -> None:
    """Record the settlement, its lines, its ``claim`` in the ledger, and audit it."""
    with settlements.session() as session:
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
        settlements.add_settlement_posts(session, _line_rows(out))
        settlements.add_to_ledger(session, out.settlement_id, out.campaign_id, claim)
        audit_trail.record(
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
                "n_events": out.n_events,
                "n_events_already_settled": out.n_events_already_settled,
            },
        )
        session.flush()
        faults.point("settlement_before_commit")


def _line_rows(out: SettlementOut) -> list[tuple[Any, ...]]:
    """The settlement's post lines as rows of ``settlement_posts``."""
    return [
        (out.settlement_id, line.post_id, line.creator_id, line.decision, line.payable, line.held_amount)
        for line in out.posts
    ]


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
