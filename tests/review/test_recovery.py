"""Cases stuck in ``deciding`` (their decider died) are finished from their adjustment or reopened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from serving.auth import Principal
from serving.errors import Conflict
from serving.labels import load_labels
from serving.review.cases import STUCK_AFTER, QueueFilter
from serving.review.outcomes import DEADLINE, adjustment_reason, review_key
from serving.review.service import ReviewServices, build_review
from serving.schemas import AdjustmentIn
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    csrf_of,
    principal,
    sign_in,
)


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _die_mid_decision(
    console: ReviewServices, case_id: str, *, user: Principal, at: datetime, paid_action: str = ""
) -> None:
    """What a decider leaves when it dies at ``at``: the case claimed and, if ``paid_action``, its release."""
    assert console.cases.acquire(case_id, user=user, now=at)
    case = console.cases.claim(case_id, user=user, now=at)
    if paid_action:
        console.corrections.adjust(
            case.settlement_id,
            AdjustmentIn(
                post_id=case.post_id,
                kind="release",
                amount=case.at_stake,
                reason=adjustment_reason(case_id, paid_action, "organic after all"),
            ),
            idempotency_key=review_key(case_id),
            actor=user,
        )


def test_stuck_cases_are_decided_from_their_adjustment_or_reopened(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    console = _console(settled)
    reviewer, admin = principal(client, "reviewer"), principal(client, "admin")
    now = datetime.now(UTC)
    earlier = now - STUCK_AFTER - timedelta(minutes=1)
    paid, unpaid = (
        c.case_id
        for c in console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="post"), now=now)[:2]
    )
    fresh = console.cases.queue(QueueFilter(campaign_id=CLOSED_CAMPAIGN, kind="post"), now=now)[0].case_id
    _die_mid_decision(console, paid, user=reviewer, at=earlier, paid_action="clear")
    _die_mid_decision(console, unpaid, user=reviewer, at=earlier)
    _die_mid_decision(console, fresh, user=reviewer, at=now)  # maybe still being decided: left alone
    assert console.cases.stuck(now=now) == sorted([paid, unpaid])
    held = console.cases.get(paid, now=now).held

    recovered = console.decisions.recover_stuck(now=now, by=admin)
    assert {r.case_id: r.outcome for r in recovered} == {paid: "decided", unpaid: "reopened"}
    assert console.cases.get(paid, now=now).status == "decided"
    reopened = console.cases.get(unpaid, now=now)
    assert reopened.status == "open" and reopened.assignee == reviewer.key_id  # still the reviewer's
    assert console.cases.get(fresh, now=now).status == "deciding"
    assert console.decisions.recover_stuck(now=now, by=admin) == []

    sid = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert [(a["kind"], Decimal(a["amount"])) for a in adjustments] == [("release", held)]
    trail = client.get("/v1/audit", params={"target": sid}, headers=api.reviewer).json()
    cleared = [row for row in trail if row["action"] == "review.clear"]
    assert len(cleared) == 1 and cleared[0]["actor"] == reviewer.key_id
    assert cleared[0]["detail"]["recovered_by"] == admin.key_id
    assert cleared[0]["detail"]["adjustment_id"] == adjustments[0]["adjustment_id"]
    assert cleared[0]["detail"]["note"] == "organic after all"
    reopen_trail = client.get("/v1/audit", params={"target": f"case:{unpaid}"}, headers=api.admin).json()
    assert [row["action"] for row in reopen_trail][-1] == "review.reopen_stuck"
    labels = load_labels(console.decisions.stored_cases)
    paid_post = console.cases.get(paid, now=now).post_id
    assert len(labels) > 0 and set(labels["post_id"]) == {paid_post} and set(labels["label"]) == {0}

    with pytest.raises(Conflict, match="already decided"):
        console.decisions.decide(paid, action="confirm_fraud", note="late", user=reviewer, now=now)
    done = console.decisions.decide(unpaid, action="confirm_fraud", note="ring", user=reviewer, now=now)
    assert done.released == 0


def test_the_next_attempt_in_the_console_recovers_a_stuck_case(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    console = _console(settled)
    reviewer = principal(client, "reviewer")
    now = datetime.now(UTC)
    earlier = now - STUCK_AFTER - timedelta(minutes=1)
    paid, unpaid = (
        c.case_id
        for c in console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="post"), now=now)[:2]
    )
    _die_mid_decision(console, paid, user=reviewer, at=earlier, paid_action="partial_release")
    _die_mid_decision(console, unpaid, user=reviewer, at=earlier)
    csrf = sign_in(client, bearer_secret(api.reviewer))  # the queue view recovers both
    assert console.cases.get(unpaid, now=now).status == "open"
    page = client.get(f"/review/cases/{paid}").text
    assert 'id="decision"' in page and "partial_release" in page and "organic after all" in page
    again = client.post(
        f"/review/cases/{paid}/decide", data={"action": "clear", "note": "retry", "csrf_token": csrf}
    )
    assert again.status_code == 409 and "already decided" in again.text
    page = client.get(f"/review/cases/{unpaid}").text
    assert 'id="held-by-you"' in page and csrf_of(page) == csrf
    decided = client.post(
        f"/review/cases/{unpaid}/decide",
        data={"action": "confirm_fraud", "note": "ring", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303


def test_the_deadline_job_recovers_stuck_cases_before_deciding_overdue_ones(settled: Settled) -> None:
    client = settled.api.client
    console = _console(settled)
    reviewer = principal(client, "reviewer")
    now = datetime.now(UTC)
    overdue = console.cases.queue(QueueFilter(campaign_id=CLOSED_CAMPAIGN), now=now)
    stuck = overdue[0].case_id
    _die_mid_decision(console, stuck, user=reviewer, at=now - STUCK_AFTER - timedelta(seconds=1))
    decided = console.decisions.decide_overdue(now=now)
    assert {d.case_id for d in decided} == {c.case_id for c in overdue}  # the stuck one reopened, then due
    trail = client.get("/v1/audit", params={"target": f"case:{stuck}"}, headers=settled.api.admin).json()
    reopened = [row for row in trail if row["action"] == "review.reopen_stuck"]
    assert len(reopened) == 1 and reopened[0]["actor"] == DEADLINE.key_id
