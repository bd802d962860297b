"""The queue for a team: counts and money in SQL, paging and sorting, claims, next case, throughput,
refusals that keep the note, and HTML pages for unknown addresses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from serving.db.cases import SORTS
from serving.review.cases import LOCK_TTL, QueueFilter
from serving.review.service import build_review
from tests.review.conftest import Settled, bearer_secret, case_ids, claim, csrf_of, principal, sign_in


def _all_open(settled: Settled) -> list[tuple[str, str, Decimal]]:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    rows = console.cases.queue_page(QueueFilter(), now=datetime.now(UTC), per_page=100_000).rows
    return [(r.case_id, r.kind, r.held) for r in rows]


def test_the_queue_counts_and_pages_every_open_case(settled: Settled) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    every = _all_open(settled)
    assert len(every) > 50  # more than one page
    first = client.get("/review/queue").text
    totals = re.search(r'id="queue-totals"><strong>(\d+)</strong>.*?<strong>([0-9.]+)</strong>', first)
    assert totals is not None
    assert int(totals.group(1)) == len(every)
    # each post's money once: every post keeping money has an open creator case covering all it
    # keeps, so the total is what the settlements kept, not the sum of overlapping cases' money
    kept = sum(
        (
            Decimal(p["withheld_amount"]) + Decimal(p["held_amount"])
            for s in settled.settlements.values()
            for p in s["posts"]
        ),
        Decimal("0.00"),
    )
    assert Decimal(totals.group(2)) == kept < sum((held for _, _, held in every), Decimal("0.00"))
    assert "each post's money counted once" in first
    seen: list[str] = []
    page = 1
    while True:
        html = client.get(f"/review/queue?page={page}").text
        seen += case_ids(html)
        if 'id="next-page"' not in html:
            break
        page += 1
    assert seen == [case_id for case_id, _, _ in every]  # every case once, in review order


def test_every_column_sorts_in_both_directions_and_keeps_the_filters(settled: Settled) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    for key in SORTS:
        ascending = client.get(f"/review/queue?kind=post&sort={key}").text
        descending = client.get(f"/review/queue?kind=post&sort={key}&desc=true").text
        assert 'aria-sort="ascending"' in ascending and 'aria-sort="descending"' in descending
        assert set(re.findall(r'data-kind="(\w+)"', ascending)) == {"post"}
        assert f"kind=post&amp;sort={key}" in ascending  # the column links keep the filter
    money = client.get("/review/queue?kind=post&sort=money&desc=true").text
    amounts = [Decimal(a) for a in re.findall(r'<td class="num">([0-9.]+)', money)]
    assert amounts == sorted(amounts, reverse=True)


def test_viewing_locks_nothing_claims_expire_and_next_case_skips_claimed(settled: Settled) -> None:
    api = settled.api
    first, second = api.client, TestClient(api.client.app, raise_server_exceptions=False)
    sign_in(first, bearer_secret(api.reviewer))
    csrf_second = sign_in(second, bearer_secret(api.admin))
    top = case_ids(first.get("/review/queue").text)[0]
    assert 'id="decide-form"' in second.get(f"/review/cases/{top}").text
    first.get(f"/review/cases/{top}")
    assert 'id="decide-form"' in second.get(f"/review/cases/{top}").text  # a view is no claim
    assert 'id="held-by-you"' in claim(first, top)
    refused = second.post(f"/review/cases/{top}/claim", data={"csrf_token": csrf_second})
    assert refused.status_code == 409 and "cannot be claimed" in refused.text
    nxt = second.get("/review/next", follow_redirects=False)
    assert nxt.status_code == 303 and nxt.headers["location"] != f"/review/cases/{top}"
    console = build_review(api.client.app.state.services)  # type: ignore[attr-defined]
    later = datetime.now(UTC) + LOCK_TTL + timedelta(seconds=1)
    assert not console.cases.get(top, now=later).is_locked_by_other(principal(second, "admin").key_id, later)
    assert console.cases.next_case(QueueFilter(), user=principal(second, "admin"), now=later) == top


def test_a_decision_leads_to_the_next_case_and_counts_for_its_reviewer(settled: Settled) -> None:
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    case_id = case_ids(client.get("/review/queue?kind=post").text)[0]
    done = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "confirm_fraud", "note": "bought", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/cases/{case_id}?decided=1"
    page = client.get(done.headers["location"]).text
    assert 'id="next-case"' in page and "by reviewer at" in page  # the decider by name, not key id
    nxt = client.get("/review/next", follow_redirects=False).headers["location"]
    assert nxt.startswith("/review/cases/") and case_id not in nxt
    stats = client.get("/review/stats").text
    assert re.search(r"<td>reviewer</td><td class=\"num\">1</td>", stats)


def test_a_refused_decision_keeps_the_note_and_says_why(settled: Settled) -> None:
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    case_id = case_ids(client.get("/review/queue?kind=post").text)[0]
    note = "the creator sent screenshots of the fan club"
    refused = client.post(f"/review/cases/{case_id}/decide", data={"note": note, "csrf_token": csrf})
    assert refused.status_code == 422
    assert 'id="refused"' in refused.text and "choose one of" in refused.text
    assert f">{note}</textarea>" in refused.text and 'id="decide-form"' in refused.text
    over = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "partial_release", "amount": "99999", "note": note, "csrf_token": csrf},
    )
    assert over.status_code == 422 and "at most" in over.text and f">{note}</textarea>" in over.text
    assert 'value="partial_release" required checked' in over.text


def test_a_refused_bulk_action_leaves_no_claim(settled: Settled) -> None:
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    account = case_ids(client.get("/review/queue?kind=account").text)[0]
    bulk = client.post(
        "/review/bulk",
        data={"case_id": [account], "action": "partial_release", "note": "x", "csrf_token": csrf},
    )
    assert bulk.status_code == 200 and "skipped" in bulk.text
    assert case_ids(client.get("/review/queue?mine=true").text) == []


def test_unknown_review_addresses_answer_html(settled: Settled) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    for url in ("/review/nope", "/review/cases/nope"):
        answer = client.get(url)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert 'id="error-message"' in answer.text
    assert csrf_of(client.get("/review/queue").text)


def test_an_admin_reopens_a_decision_and_its_labels_are_superseded(settled: Settled) -> None:
    from serving.labels import load_labels

    api = settled.api
    reviewer, admin = api.client, TestClient(api.client.app, raise_server_exceptions=False)
    csrf = sign_in(reviewer, bearer_secret(api.reviewer))
    csrf_admin = sign_in(admin, bearer_secret(api.admin))
    case_id = case_ids(reviewer.get("/review/queue?kind=post").text)[0]
    reviewer.post(
        f"/review/cases/{case_id}/decide", data={"action": "confirm_fraud", "note": "x", "csrf_token": csrf}
    )
    console = build_review(api.client.app.state.services)  # type: ignore[attr-defined]
    labels = load_labels(console.cases.stored_cases)
    assert len(labels) > 0
    assert 'id="reopen-form"' not in reviewer.get(f"/review/cases/{case_id}").text
    refused = reviewer.post(f"/review/cases/{case_id}/reopen", data={"note": "no", "csrf_token": csrf})
    assert refused.status_code == 403 and "only an admin" in refused.text
    page = admin.get(f"/review/cases/{case_id}").text
    assert 'id="reopen-form"' in page
    no_note = admin.post(f"/review/cases/{case_id}/reopen", data={"note": " ", "csrf_token": csrf_admin})
    assert no_note.status_code == 422
    done = admin.post(
        f"/review/cases/{case_id}/reopen",
        data={"note": "the creator sent new proof", "csrf_token": csrf_admin},
        follow_redirects=False,
    )
    assert done.status_code == 303
    fresh = done.headers["location"].rsplit("/", 1)[-1]
    now = datetime.now(UTC)
    old, new = console.cases.get(case_id, now=now), console.cases.get(fresh, now=now)
    assert old.status == "decided" and new.status == "open" and new.held == old.held
    assert new.post_id == old.post_id.rsplit(":", 1)[-1] and new.settlement_id == old.settlement_id
    assert load_labels(console.cases.stored_cases).empty  # the only decision's labels are superseded
    assert 'id="reopened"' in admin.get(f"/review/cases/{case_id}").text
    again = admin.post(f"/review/cases/{case_id}/reopen", data={"note": "again", "csrf_token": csrf_admin})
    assert again.status_code == 409
    trail = api.client.get(
        "/v1/audit", params={"target": new.settlement_id, "limit": 1000}, headers=api.admin
    )
    reopens = [e for e in trail.json() if e["action"] == "review.reopen_decision"]
    assert len(reopens) == 1 and reopens[0]["detail"]["new_case_id"] == fresh
    decided = reviewer.post(
        f"/review/cases/{fresh}/decide",
        data={"action": "clear", "note": "new proof holds", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert set(load_labels(console.cases.stored_cases)["label"]) == {0}


def test_sign_in_returns_only_inside_the_console() -> None:
    from serving.review.routes import safe_next

    assert safe_next("/review/cases/case_1?decided=1") == "/review/cases/case_1?decided=1"
    for outside in ("//evil.example/review/", "https://evil.example", "/v1/audit", "/review/sign-in", ""):
        assert safe_next(outside) == "/review/queue"


def test_a_reviewer_saves_views_and_sees_only_his_own(settled: Settled) -> None:
    api = settled.api
    reviewer, admin = api.client, TestClient(api.client.app, raise_server_exceptions=False)
    csrf = sign_in(reviewer, bearer_secret(api.reviewer))
    csrf_admin = sign_in(admin, bearer_secret(api.admin))
    query = "status=open&kind=creator&sort=money&desc=true&page=3&evil=1"
    saved = reviewer.post(
        "/review/views",
        data={"name": "Creators by money", "query": query, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/review/queue?status=open&kind=creator&sort=money&desc=true"
    page = reviewer.get("/review/queue").text
    link = re.search(r'<a href="/review/queue\?([^"]+)" data-view-id="([^"]+)">Creators by money</a>', page)
    assert link is not None and link.group(1) == "status=open&amp;kind=creator&amp;sort=money&amp;desc=true"
    view_id = link.group(2)
    shown = reviewer.get("/review/queue?status=open&kind=creator&sort=money&desc=true").text
    assert set(re.findall(r'data-kind="([^"]+)"', shown)) == {"creator"}
    # the current filters are what the save form sends
    assert 'name="query" value="status=open&amp;kind=creator&amp;sort=money&amp;desc=true"' in shown
    # the same name again replaces it; another reviewer sees none of them and cannot delete them
    reviewer.post(
        "/review/views", data={"name": "Creators by money", "query": "kind=group", "csrf_token": csrf}
    )
    assert reviewer.get("/review/queue").text.count("Creators by money</a>") == 1
    assert "Creators by money" not in admin.get("/review/queue").text
    refused = admin.post(f"/review/views/{view_id}/delete", data={"csrf_token": csrf_admin})
    assert refused.status_code == 404
    assert (
        reviewer.post("/review/views", data={"name": " ", "query": "", "csrf_token": csrf}).status_code == 422
    )
    deleted = reviewer.post(
        f"/review/views/{view_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303 and "Creators by money" not in reviewer.get("/review/queue").text
