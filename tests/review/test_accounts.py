"""Flagged-account cases: created per settlement, queued with posts, decided into labels and releases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from detectors.policy import unit_prices
from serving.detection import campaigns_frame
from serving.labels import load_labels
from serving.review.account_cases import AccountPlan
from serving.review.cases import STUCK_AFTER, QueueFilter
from serving.review.outcomes import adjustment_reason
from serving.review.rows import CaseRow, account_case_key
from serving.review.service import ReviewServices, build_review
from serving.schemas import AdjustmentIn
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    FARM_POSTS,
    FLAGGED_FAN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    case_ids,
    claim,
    principal,
    sign_in,
)


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _expected_stakes(console: ReviewServices, settlement: dict[str, object]) -> dict[str, Decimal]:
    """Money withheld or held per flagged engaging account, derived here from the run and the body."""
    services = console.decisions  # its repositories and detection
    stored = services.settlements.settlement(str(settlement["settlement_id"]))
    assert stored is not None and stored.run_id
    posts = settlement["posts"]
    assert isinstance(posts, list)
    held = {str(p["post_id"]) for p in posts if Decimal(p["held_amount"]) > 0}
    verdicts = services.detection.verdicts(stored.run_id)
    mine = verdicts.loc[
        (verdicts["campaign_id"] == stored.campaign_id)
        & verdicts["post_id"].astype("str").isin([str(p["post_id"]) for p in posts])
    ].reset_index(drop=True)
    accounts = services.detection.accounts(stored.run_id)
    flagged = set(
        accounts.loc[(accounts["role"] == "engager") & accounts["flagged"], "account_id"].astype("str")
    )
    campaign = services.campaigns.campaign(stored.campaign_id)
    assert campaign is not None
    price = unit_prices(
        mine,
        campaigns_frame([campaign]),
        default_unit_price=services.detection.params(stored.run_id).policy.default_unit_price,
    )
    counted = mine["invalid"].to_numpy(dtype=bool) | mine["post_id"].astype("str").isin(held).to_numpy()
    money = (
        pd.Series(np.where(counted, price * mine["copies"].to_numpy(), 0.0))
        .groupby(mine["user_id"].astype("str"))
        .sum()
    )
    out = {
        a: Decimal(repr(round(float(v), 6))).quantize(Decimal("0.01"))
        for a, v in money.items()
        if a in flagged
    }
    return {a: v for a, v in out.items() if v > 0}


def test_account_cases_are_queued_with_their_money_and_in_order(settled: Settled) -> None:
    console = _console(settled)
    now = datetime.now(UTC)
    for campaign, settlement in settled.settlements.items():
        rows = console.cases.queue(QueueFilter(campaign_id=campaign, kind="account"), now=now)
        expected = _expected_stakes(console, settlement)
        assert expected, f"the simulated campaign {campaign} has flagged accounts"
        assert {r.account_id: r.at_stake for r in rows} == expected
        assert all(r.post_id == f"account:{r.account_id}" and r.kind == "account" for r in rows)
        # a case stands on evidence against the account: a re-count is the platform's doing
        assert all(r.reasons and "duplicate" not in r.reasons for r in rows)
    assert console.cases.sync() == 0  # each settlement's accounts get their cases once
    client = settled.api.client
    # GET /v1/accounts/{id} reports the same flag
    some = console.cases.queue(QueueFilter(kind="account"), now=now)[0]
    answer = client.get(f"/v1/accounts/{some.account_id}", headers=settled.api.reviewer).json()
    assert answer["flagged"] is True and answer["role"] == "engager"

    sign_in(client, bearer_secret(settled.api.reviewer))
    page = client.get("/review/queue").text
    rows_html = [row.split("</tr>")[0] for row in page.split('data-case-id="')[1:]]
    kinds = [re.search(r'data-kind="(\w+)"', row).group(1) for row in rows_html]  # type: ignore[union-attr]
    assert {"post", "account"} <= set(kinds) <= {"post", "account", "creator", "group"}
    flags = ["needs sign-off" in row for row in rows_html]
    n_first = sum(flags)
    assert flags == [True] * n_first + [False] * (len(flags) - n_first)  # sign-off first, posts and accounts
    money = [Decimal(re.search(r'class="num">([0-9.]+)<', row).group(1)) for row in rows_html]  # type: ignore[union-attr]
    assert money[:n_first] == sorted(money[:n_first], reverse=True)
    assert money[n_first:] == sorted(money[n_first:], reverse=True)
    only = client.get("/review/queue?kind=account").text
    assert case_ids(only) and set(re.findall(r'data-kind="(\w+)"', only)) == {"account"}


def _with_release(console: ReviewServices, rows: list[CaseRow], *, releasing: bool) -> CaseRow:
    for row in rows:
        total = sum((v for _, v in console.decisions.account_plan(row).releases), Decimal("0.00"))
        if (total > 0) == releasing:
            return row
    raise AssertionError(f"no account case with releasable money {releasing}")


def test_confirm_and_clear_account_cases(settled: Settled) -> None:
    console = _console(settled)
    client, api = settled.api.client, settled.api
    now = datetime.now(UTC)
    rows = console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="account"), now=now)
    held_one = _with_release(console, rows, releasing=True)
    plan = console.decisions.account_plan(held_one)
    releasable = sum((v for _, v in plan.releases), Decimal("0.00"))
    # flagged for its like through the farm's IP; its own engagements on the farm's held post are valid
    assert held_one.account_id == FLAGGED_FAN and held_one.reasons == ["ip_farm"]
    assert [post for post, _ in plan.releases] == [FARM_POSTS[1]]
    nothing_held = _with_release(console, rows, releasing=False)
    fraud = next(r for r in rows if r.case_id not in (held_one.case_id, nothing_held.case_id))
    csrf = sign_in(client, bearer_secret(api.reviewer))

    _confirm_fraud_on_its_page(settled, fraud, csrf)

    sid = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    post_cases = {
        r.post_id: r
        for r in console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="post"), now=now)
    }
    page = client.get(f"/review/cases/{held_one.case_id}").text
    assert f"Clearing releases {releasable}" in page
    client.post(
        f"/review/cases/{held_one.case_id}/decide",
        data={"action": "clear", "note": "a real fan", "csrf_token": csrf},
    )
    page = client.get(f"/review/cases/{nothing_held.case_id}").text
    assert "released only through a post case or an API adjustment" in page
    client.post(
        f"/review/cases/{nothing_held.case_id}/decide",
        data={"action": "clear", "note": "organic after all", "csrf_token": csrf},
    )

    adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert sorted((a["post_id"], Decimal(a["amount"])) for a in adjustments) == sorted(plan.releases)
    assert all(a["kind"] == "release" and held_one.case_id in a["reason"] for a in adjustments)
    for post_id, amount in plan.releases:  # the post's own case has that much less at stake
        after = console.cases.get(post_cases[post_id].case_id, now=now)
        assert after.at_stake == post_cases[post_id].at_stake - amount
    assert console.cases.get(held_one.case_id, now=now).released == releasable
    _assert_audited_and_labelled(settled, console, sid, plan, (fraud, held_one, nothing_held))
    again = client.post(
        f"/review/cases/{held_one.case_id}/decide",
        data={"action": "clear", "note": "twice", "csrf_token": csrf},
    )
    assert again.status_code == 409


def _confirm_fraud_on_its_page(settled: Settled, fraud: CaseRow, csrf: str) -> None:
    """The case page as its reviewer and another see it; forged, wrong and empty decisions refused."""
    client, api = settled.api.client, settled.api
    page = claim(client, fraud.case_id)
    assert 'id="held-by-you"' in page and f"Account {fraud.account_id}" in page
    for part in ('id="reasons"', 'id="account-posts"', 'id="group-graph"', 'id="devices"', 'id="ips"'):
        assert part in page
    assert 'id="account-age"' in page and 'id="samples"' in page and "<circle" in page
    other = TestClient(client.app, raise_server_exceptions=False)
    sign_in(other, bearer_secret(api.admin))
    assert 'id="held-by"' in other.get(f"/review/cases/{fraud.case_id}").text
    forged = client.post(
        f"/review/cases/{fraud.case_id}/decide",
        data={"action": "confirm_fraud", "note": "x", "csrf_token": "no"},
    )
    assert forged.status_code == 403
    partial = client.post(
        f"/review/cases/{fraud.case_id}/decide",
        data={"action": "partial_release", "note": "half", "csrf_token": csrf},
    )
    assert partial.status_code == 422 and "partial release is for post cases" in partial.text
    no_note = client.post(
        f"/review/cases/{fraud.case_id}/decide",
        data={"action": "confirm_fraud", "note": " ", "csrf_token": csrf},
    )
    assert no_note.status_code == 422
    done = client.post(
        f"/review/cases/{fraud.case_id}/decide",
        data={"action": "confirm_fraud", "note": "same device farm", "csrf_token": csrf},
    )
    assert done.status_code == 200 and 'id="decision"' in done.text


def _assert_audited_and_labelled(
    settled: Settled,
    console: ReviewServices,
    sid: str,
    plan: AccountPlan,
    cases: tuple[CaseRow, CaseRow, CaseRow],
) -> None:
    """Every decision in the audit trail with its money; the labels the three decisions wrote."""
    client, api = settled.api.client, settled.api
    fraud, held_one, nothing_held = cases
    trail = client.get("/v1/audit", params={"target": sid, "limit": 1000}, headers=api.reviewer).json()
    decided = {
        row["detail"]["case_id"]: row
        for row in trail
        if row["action"].startswith("review.") and "case_id" in row.get("detail", {})
    }
    assert decided[fraud.case_id]["action"] == "review.confirm_fraud"
    assert decided[held_one.case_id]["action"] == "review.clear"
    assert decided[held_one.case_id]["detail"]["account_id"] == held_one.account_id
    assert len(decided[held_one.case_id]["detail"]["adjustment_ids"]) == len(plan.releases)
    assert decided[nothing_held.case_id]["detail"]["released"] == "0.00"
    labels = load_labels(console.decisions.stored_cases)
    got = {(a, int(v)) for a, v in zip(labels["account_id"], labels["label"], strict=True)}
    assert got == {(fraud.account_id, 1), (held_one.account_id, 0), (nothing_held.account_id, 0)}
    assert (labels["source"] == "review").all() and not labels["post_id"].str.startswith("account:").any()


def test_open_account_cases_are_decided_by_the_deadline_without_labels(settled: Settled) -> None:
    console = _console(settled)
    now = datetime.now(UTC)
    overdue = console.cases.queue(QueueFilter(campaign_id=CLOSED_CAMPAIGN, kind="account"), now=now)
    assert overdue
    decided = {d.case_id: d for d in console.decisions.decide_overdue(now=now)}
    for row in overdue:
        assert decided[row.case_id].action == "deadline_default"
        assert decided[row.case_id].released == 0 and decided[row.case_id].n_labels == 0
    assert load_labels(console.decisions.stored_cases).empty
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    page = client.get(f"/review/cases/{overdue[0].case_id}").text
    assert "decided by deadline" in page
    assert console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="account"), now=now)


def test_a_stuck_account_clear_finishes_its_releases(settled: Settled) -> None:
    console = _console(settled)
    client, api = settled.api.client, settled.api
    reviewer, admin = principal(client, "reviewer"), principal(client, "admin")
    now = datetime.now(UTC)
    earlier = now - STUCK_AFTER - timedelta(minutes=1)
    rows = console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="account"), now=now)
    case = _with_release(console, rows, releasing=True)
    unpaid = next(r for r in rows if r.case_id != case.case_id)
    plan = console.decisions.account_plan(case)
    for row in (case, unpaid):  # both deciders die; the first after its first release
        assert console.cases.acquire(row.case_id, user=reviewer, now=earlier)
        console.cases.claim(row.case_id, user=reviewer, now=earlier)
    post_id, amount = plan.releases[0]
    console.corrections.adjust(
        case.settlement_id,
        AdjustmentIn(
            post_id=post_id,
            kind="release",
            amount=amount,
            reason=adjustment_reason(case.case_id, "clear", "fan"),
        ),
        idempotency_key=account_case_key(case.case_id, post_id),
        actor=reviewer,
    )
    recovered = console.decisions.recover_stuck(now=now, by=admin)
    assert {r.case_id: r.outcome for r in recovered} == {case.case_id: "decided", unpaid.case_id: "reopened"}
    sid = settled.settlements[OPEN_CAMPAIGN]["settlement_id"]
    adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=api.reviewer).json()
    assert sorted((a["post_id"], Decimal(a["amount"])) for a in adjustments) == sorted(plan.releases)
    labels = load_labels(console.decisions.stored_cases)
    assert list(zip(labels["account_id"], labels["label"], strict=True)) == [(case.account_id, 0)]
    assert console.cases.get(unpaid.case_id, now=now).status == "open"
