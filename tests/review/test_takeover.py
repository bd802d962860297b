"""Locks: an admin takes over a case another reviewer holds (note, CSRF, audit); a reviewer cannot."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from serving.auth import Role
from serving.review.service import build_review
from tests.review.conftest import Settled, bearer_secret, case_ids, claim, csrf_of, principal, sign_in


def test_admin_takes_over_a_held_case_and_a_reviewer_cannot(settled: Settled) -> None:
    api = settled.api
    holder, admin = api.client, TestClient(api.client.app, raise_server_exceptions=False)
    other = TestClient(api.client.app, raise_server_exceptions=False)
    keys = api.client.app.state.services.keys  # type: ignore[attr-defined]
    csrf_holder = sign_in(holder, bearer_secret(api.reviewer))
    csrf_other = sign_in(other, keys.create(role=Role.REVIEWER, name="second reviewer")[1])
    csrf_admin = sign_in(admin, bearer_secret(api.admin))
    case_id = case_ids(holder.get("/review/queue").text)[0]
    assert 'id="held-by-you"' in claim(holder, case_id)
    url = f"/review/cases/{case_id}/take-over"

    seen = other.get(f"/review/cases/{case_id}").text
    assert 'id="held-by"' in seen and 'id="take-over-form"' not in seen
    refused = other.post(url, data={"note": "mine now", "csrf_token": csrf_other})
    assert refused.status_code == 403 and "only an admin" in refused.text

    page = admin.get(f"/review/cases/{case_id}").text
    assert 'id="held-by"' in page and 'id="take-over-form"' in page and 'for="take-over-note"' in page
    assert csrf_of(page) == csrf_admin
    assert admin.post(url, data={"note": "mine now", "csrf_token": "forged"}).status_code == 403
    no_note = admin.post(url, data={"note": " ", "csrf_token": csrf_admin})
    assert no_note.status_code == 422 and "note" in no_note.text
    reviewer = principal(holder, "reviewer")
    console = build_review(api.client.app.state.services)  # type: ignore[attr-defined]
    assert console.cases.get(case_id, now=datetime.now(UTC)).assignee == reviewer.key_id

    note = "reviewer is off sick; the cutoff is tonight"
    taken = admin.post(url, data={"note": note, "csrf_token": csrf_admin}, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"] == f"/review/cases/{case_id}"
    page = admin.get(f"/review/cases/{case_id}").text
    assert 'id="held-by-you"' in page and 'id="decide-form"' in page
    lost = holder.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "clear", "note": "organic", "csrf_token": csrf_holder},
    )
    assert lost.status_code == 409 and "held by admin" in lost.text
    assert 'id="held-by"' in holder.get(f"/review/cases/{case_id}").text
    trail = api.client.get("/v1/audit", params={"target": f"case:{case_id}"}, headers=api.admin).json()
    takeovers = [row for row in trail if row["action"] == "review.take_over"]
    admin_key = principal(admin, "admin")
    assert len(takeovers) == 1 and takeovers[0]["actor"] == admin_key.key_id
    assert takeovers[0]["detail"]["previous_assignee"] == reviewer.key_id
    assert takeovers[0]["detail"]["note"] == note

    decided = admin.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "confirm_fraud", "note": "ring", "csrf_token": csrf_admin},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    late = admin.post(url, data={"note": "again", "csrf_token": csrf_admin})
    assert late.status_code == 409 and "decided" in late.text
