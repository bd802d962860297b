"""Signing off a capped settlement from the console: CSRF, note, the API's service and audit, the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from serving.review.cases import QueueFilter
from serving.review.service import build_review
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    case_ids,
    principal,
    sign_in,
)


def _queue_rows(html: str) -> list[str]:
    return [row.split("</tr>")[0] for row in html.split('data-case-id="')[1:]]


def test_signoff_from_the_case_page_goes_through_the_api_service(settled: Settled) -> None:
    client, api = settled.api.client, settled.api
    csrf = sign_in(client, bearer_secret(api.reviewer))
    sid = settled.settlements[CLOSED_CAMPAIGN]["settlement_id"]
    other = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    queue = client.get("/review/queue").text
    assert re.findall(r'data-settlement-id="([^"]+)"', queue) == [sid]  # the banner names it alone
    case_id = case_ids(client.get(f"/review/queue?campaign={CLOSED_CAMPAIGN}").text)[0]
    page = client.get(f"/review/cases/{case_id}").text
    assert 'id="signoff-form"' in page and 'for="signoff-note"' in page
    url = f"/review/settlements/{sid}/signoff"
    assert client.post(url, data={"note": "ok", "csrf_token": "forged"}).status_code == 403
    assert client.post(url, data={"note": "ok"}).status_code == 403
    no_note = client.post(url, data={"note": "  ", "csrf_token": csrf})
    assert no_note.status_code == 422 and "note" in no_note.text
    not_needed = client.post(f"/review/settlements/{other}/signoff", data={"note": "ok", "csrf_token": csrf})
    assert not_needed.status_code == 409 and "does not need a sign-off" in not_needed.text
    assert client.get(f"/v1/settlements/{sid}/signoff", headers=api.reviewer).status_code == 404

    note = "checked the held posts: bought likes, the hold stands"
    done = client.post(
        url, data={"note": note, "csrf_token": csrf, "case_id": case_id}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/cases/{case_id}"
    given = client.get(f"/v1/settlements/{sid}/signoff", headers=api.billing).json()
    reviewer = principal(client, "reviewer")
    assert (given["actor"], given["role"], given["note"]) == (reviewer.key_id, "reviewer", note)
    trail = client.get("/v1/audit", params={"target": sid}, headers=api.reviewer).json()
    signed = [row for row in trail if row["action"] == "settlement.signoff"]
    assert len(signed) == 1 and signed[0]["actor"] == reviewer.key_id
    assert signed[0]["detail"]["note"] == note
    twice = client.post(url, data={"note": "again", "csrf_token": csrf})
    assert twice.status_code == 409 and "already signed off" in twice.text

    page = client.get(f"/review/cases/{case_id}").text
    assert 'id="signed-off"' in page and note in page and 'id="signoff-form"' not in page
    assert "signed off by reviewer (reviewer)" in page  # by name, not key id
    queue = client.get("/review/queue").text
    assert 'id="signoff-banner"' not in queue and 'class="signoff"' not in queue
    closed = _queue_rows(client.get(f"/review/queue?campaign={CLOSED_CAMPAIGN}").text)
    assert closed and all("signed off" in r and "needs sign-off" not in r for r in closed)


def test_a_signoff_through_the_api_shows_in_the_console_and_ends_its_priority(
    settled: Settled,
) -> None:
    client, api = settled.api.client, settled.api
    csrf = sign_in(client, bearer_secret(api.admin))
    sid = settled.settlements[CLOSED_CAMPAIGN]["settlement_id"]
    console = build_review(client.app.state.services)  # type: ignore[attr-defined]
    rows = console.cases.queue(QueueFilter(), now=datetime.now(UTC))
    assert rows[0].awaits_signoff and rows[0].settlement_id == sid
    # a month earlier no cutoff is within a day: sign-off first, then money at stake
    month_ago = datetime.now(UTC) - timedelta(days=30)
    before = [r.case_id for r in console.cases.queue(QueueFilter(), now=month_ago)]
    answer = client.post(f"/v1/settlements/{sid}/signoff", json={"note": "seen"}, headers=api.admin)
    assert answer.status_code == 201
    after = console.cases.queue(QueueFilter(), now=month_ago)
    assert [r.at_stake for r in after] == sorted((r.at_stake for r in after), reverse=True)
    assert [r.case_id for r in after] != before  # signed off, the settlement no longer leads
    rows = console.cases.queue(QueueFilter(), now=datetime.now(UTC))
    admin = principal(client, "admin")
    assert not any(r.awaits_signoff for r in rows)
    assert all(r.signed_off_by == admin.key_id for r in rows if r.settlement_id == sid)
    page = client.get("/review/queue").text
    assert 'id="signoff-banner"' not in page and "needs sign-off" not in page
    from_console = client.post(f"/review/settlements/{sid}/signoff", data={"note": "x", "csrf_token": csrf})
    assert from_console.status_code == 409 and "already signed off" in from_console.text
