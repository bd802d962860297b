"""The review console over HTTP: sign-in, cookies, CSRF, queue, locks, decisions, deadline, labels."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from serving.auth import Principal, Role
from serving.labels import LABEL_COLUMNS, load_labels
from serving.review.cases import QueueFilter
from serving.review.service import build_review
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    case_ids,
    claim,
    csrf_of,
    sign_in,
)


def _client(settled: Settled) -> TestClient:
    """A second browser-like client on the same app (its own cookie jar)."""
    return TestClient(settled.api.client.app, raise_server_exceptions=False)


def test_sign_in_refuses_billing_keys_and_sets_a_strict_httponly_cookie(settled: Settled) -> None:
    client = settled.api.client
    form = client.get("/review/sign-in")
    assert 'for="api_key"' in form.text
    refused = client.post(
        "/review/sign-in",
        data={"api_key": bearer_secret(settled.api.billing), "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 403 and "billing key cannot sign in" in refused.text
    assert "cpg_review" not in refused.headers.get("set-cookie", "")
    form = client.get("/review/sign-in")
    answer = client.post(
        "/review/sign-in",
        data={"api_key": bearer_secret(settled.api.reviewer), "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cpg_review="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie


def test_pages_need_a_session_and_forms_need_the_csrf_token(settled: Settled) -> None:
    client = settled.api.client
    assert (
        client.get("/review/queue", follow_redirects=False).headers["location"].startswith("/review/sign-in")
    )
    form = client.get("/review/sign-in")
    no_token = client.post(
        "/review/sign-in", data={"api_key": bearer_secret(settled.api.reviewer), "csrf_token": "forged"}
    )
    assert no_token.status_code == 403
    assert form.status_code == 200
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    case_id = case_ids(client.get("/review/queue").text)[0]
    assert client.get(f"/review/cases/{case_id}").status_code == 200
    forged = client.post(
        f"/review/cases/{case_id}/decide", data={"action": "clear", "note": "ok", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    missing = client.post(f"/review/cases/{case_id}/decide", data={"action": "clear", "note": "ok"})
    assert missing.status_code == 403
    assert "open" in client.get("/review/queue?status=open").text
    done = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "clear", "note": "organic", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_queue_puts_signoff_first_then_money_and_filters(settled: Settled) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    page = client.get("/review/queue?kind=post").text
    held = {
        c: sum(1 for p in s["posts"] if float(p["held_amount"]) > 0) for c, s in settled.settlements.items()
    }
    assert len(case_ids(page)) == sum(held.values()) >= 3
    only_open = client.get(f"/review/queue?campaign={OPEN_CAMPAIGN}&kind=post").text
    assert len(case_ids(only_open)) == held[OPEN_CAMPAIGN]
    # the campaign past its cutoff withholds 67% of its payout (sign-off), the other 28% (no sign-off)
    assert settled.settlements[CLOSED_CAMPAIGN]["needs_signoff"]
    assert not settled.settlements[OPEN_CAMPAIGN]["needs_signoff"]
    rows = [row.split("</tr>")[0] for row in page.split('data-case-id="')[1:]]
    flags = ["needs sign-off" in row for row in rows]
    assert flags == [True] * held[CLOSED_CAMPAIGN] + [False] * held[OPEN_CAMPAIGN]
    money = [float(re.search(r'class="num">([0-9.]+)<', row).group(1)) for row in rows]  # type: ignore[union-attr]
    signed, unsigned = money[: held[CLOSED_CAMPAIGN]], money[held[CLOSED_CAMPAIGN] :]
    assert signed == sorted(signed, reverse=True) and unsigned == sorted(unsigned, reverse=True)
    reason = settled.settlements[OPEN_CAMPAIGN]["posts"]
    some_reason = next(r for p in reason if float(p["held_amount"]) > 0 for r in p["reasons"])
    by_reason = client.get(f"/review/queue?reason={some_reason}&kind=post").text
    assert 1 <= len(case_ids(by_reason)) <= len(case_ids(page))
    assert case_ids(client.get("/review/queue?mine=true").text) == []


def test_second_reviewer_sees_the_holder_and_cannot_act(settled: Settled) -> None:
    first, second = settled.api.client, _client(settled)
    sign_in(first, bearer_secret(settled.api.reviewer))
    csrf_second = sign_in(second, bearer_secret(settled.api.admin))
    case_id = case_ids(first.get("/review/queue").text)[0]
    assert 'id="held-by-you"' in claim(first, case_id)
    seen = second.get(f"/review/cases/{case_id}").text
    assert 'id="held-by"' in seen and "reviewer" in seen and 'id="decide-form"' not in seen
    refused = second.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "clear", "note": "mine now", "csrf_token": csrf_second},
    )
    assert refused.status_code == 409 and "held by reviewer" in refused.text
    assert case_ids(first.get("/review/queue?mine=true").text) == [case_id]


def test_decisions_adjust_audit_and_label(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    csrf = sign_in(client, bearer_secret(api.reviewer))
    sid = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    ids = case_ids(client.get(f"/review/queue?campaign={OPEN_CAMPAIGN}&kind=post").text)
    assert len(ids) >= 2
    fraud, clean = ids[0], ids[1]
    for case_id, action in ((fraud, "confirm_fraud"), (clean, "clear")):
        assert client.get(f"/review/cases/{case_id}").status_code == 200
        no_note = client.post(
            f"/review/cases/{case_id}/decide", data={"action": action, "note": " ", "csrf_token": csrf}
        )
        assert no_note.status_code == 422 and "note" in no_note.text
        page = client.post(
            f"/review/cases/{case_id}/decide",
            data={"action": action, "note": f"{action} note", "csrf_token": csrf},
        )
        assert page.status_code == 200 and 'id="decision"' in page.text
    adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert [a["kind"] for a in adjustments] == ["release"]
    cleared = client.get(f"/review/cases/{clean}").text
    assert adjustments[0]["post_id"] in cleared
    trail = client.get("/v1/audit", params={"target": sid}, headers=api.reviewer).json()
    actions = [row["action"] for row in trail]
    assert "review.confirm_fraud" in actions and "review.clear" in actions and "adjustment.release" in actions
    again = client.post(
        f"/review/cases/{fraud}/decide", data={"action": "clear", "note": "twice", "csrf_token": csrf}
    )
    assert again.status_code == 409 and "already decided" in again.text
    labels = load_labels(client.app.state.services.db.cases)  # type: ignore[attr-defined]
    assert tuple(labels.columns) == LABEL_COLUMNS
    assert str(labels["decided_at"].dtype) == "datetime64[us, UTC]"
    assert set(labels["label"]) <= {0, 1} and (labels["settlement_id"] == sid).all()
    assert set(labels["source"]) <= {"review"}
    assert len(labels) > 0
    engine = client.app.state.services.db.database.engine  # type: ignore[attr-defined]
    later = load_labels(engine, start=datetime.now(UTC) + timedelta(hours=1))
    assert later.empty and tuple(later.columns) == LABEL_COLUMNS


def test_partial_release_and_bulk(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    csrf = sign_in(client, bearer_secret(api.reviewer))
    ids = case_ids(client.get(f"/review/queue?campaign={OPEN_CAMPAIGN}&kind=post").text)
    first = ids[0]
    client.get(f"/review/cases/{first}")
    too_much = client.post(
        f"/review/cases/{first}/decide",
        data={"action": "partial_release", "note": "n", "amount": "999999.00", "csrf_token": csrf},
    )
    assert too_much.status_code == 422
    done = client.post(
        f"/review/cases/{first}/decide",
        data={"action": "partial_release", "note": "half is organic", "amount": "0.01", "csrf_token": csrf},
    )
    assert done.status_code == 200
    rest = ids[1:]
    bulk = client.post(
        "/review/bulk", data={"case_id": rest, "action": "confirm_fraud", "note": "ring", "csrf_token": csrf}
    )
    assert bulk.status_code == 200 and bulk.text.count("decided (confirm_fraud") == len(rest)
    sid = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert [a["amount"] for a in adjustments] == ["0.01"]
    assert case_ids(client.get(f"/review/queue?campaign={OPEN_CAMPAIGN}&kind=post").text) == []


def test_deadline_pays_the_clean_share_and_keeps_the_rest(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    console = build_review(client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    now = datetime.now(UTC)
    overdue = console.cases.queue(QueueFilter(campaign_id=CLOSED_CAMPAIGN, kind="post"), now=now)
    expected = {c.case_id: console.decisions.clean_share(c) for c in overdue}
    assert expected and any(v > 0 for v in expected.values())
    accounts = [
        c
        for kind in ("account", "creator", "group")
        for c in console.cases.queue(QueueFilter(campaign_id=CLOSED_CAMPAIGN, kind=kind), now=now)
    ]
    decided = console.decisions.decide_overdue(now=now)
    # an overdue account, creator or group case is decided by deadline too: nothing released, no label
    assert {d.case_id: d.released for d in decided} == expected | {
        c.case_id: Decimal("0.00") for c in accounts
    }
    assert all(d.action == "deadline_default" and d.n_labels == 0 for d in decided)
    sid = settled.settlements[CLOSED_CAMPAIGN]["settlement_id"]
    trail = client.get("/v1/audit", params={"target": sid, "limit": 1000}, headers=api.reviewer).json()
    deadline_rows = [row for row in trail if row["action"] == "review.deadline_default"]
    assert len(deadline_rows) == len(expected) + len(accounts)
    assert all(row["detail"]["decided_by_deadline"] for row in deadline_rows)
    released = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert sum(Decimal(a["amount"]) for a in released) == sum(expected.values())
    still_open = console.cases.queue(QueueFilter(), now=now)
    assert still_open and {r.campaign_id for r in still_open} == {OPEN_CAMPAIGN}
    assert console.decisions.decide_overdue(now=now) == []
    sign_in(client, bearer_secret(api.reviewer))
    page = client.get(f"/review/cases/{decided[0].case_id}").text
    assert "decided by deadline" in page


def test_concurrent_opens_lock_a_case_once(settled: Settled) -> None:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    now = datetime.now(UTC)
    case_id = console.cases.queue(QueueFilter(), now=now)[0].case_id
    reviewers = [Principal(key_id=f"k{i}", name=f"reviewer {i}", role=Role.REVIEWER) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        held = list(pool.map(lambda user: console.cases.acquire(case_id, user=user, now=now), reviewers))
    assert sum(held) == 1
    holder = reviewers[held.index(True)]
    assert console.cases.get(case_id, now=now).assignee == holder.key_id
    later = now + timedelta(minutes=31)  # the lock lapsed: another reviewer may take the case
    other = reviewers[(held.index(True) + 1) % len(reviewers)]
    assert console.cases.acquire(case_id, user=other, now=later)


def test_revoking_the_key_ends_the_session(settled: Settled) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    keys = client.app.state.services.keys  # type: ignore[attr-defined]
    key_id = next(k.key_id for k in keys.list() if k.role == "reviewer")
    keys.revoke(key_id)
    assert (
        client.get("/review/queue", follow_redirects=False).headers["location"].startswith("/review/sign-in")
    )


def test_give_back_and_sign_out(settled: Settled) -> None:
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    case_id = case_ids(client.get("/review/queue").text)[0]
    client.get(f"/review/cases/{case_id}")
    assert case_ids(client.get("/review/queue?mine=true").text) == []  # viewing claims nothing
    claim(client, case_id)
    assert case_ids(client.get("/review/queue?mine=true").text) == [case_id]
    back = client.post(f"/review/cases/{case_id}/release", data={"csrf_token": csrf}, follow_redirects=False)
    assert back.status_code == 303
    assert case_ids(client.get("/review/queue?mine=true").text) == []
    assert client.post(f"/review/cases/{case_id}/release", data={"csrf_token": csrf}).status_code == 409
    token = client.cookies.get("cpg_review")
    out = client.post("/review/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and token
    client.cookies.set("cpg_review", token, path="/review")  # the ended session's token is refused
    assert client.get("/review/queue", follow_redirects=False).status_code == 303
