"""Money stays consistent across cases and reopens: at stake is what a case could still pay after
other cases' releases, and reopening a decision that moved money reverses it (a clawback item when
the money was already paid out), so deciding again never pays twice. SQLite and PostgreSQL, through
the console's HTTP routes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from serving.review.cases import QueueFilter
from serving.review.rows import CaseRow
from serving.review.service import ReviewServices, build_review
from serving.statuses import CaseKind
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    csrf_of,
    sign_in,
)

_ZERO = Decimal("0.00")


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _open(console: ReviewServices, kind: CaseKind, campaign: str) -> list[CaseRow]:
    page = console.cases.queue_page(
        QueueFilter(kind=kind, campaign_id=campaign), now=datetime.now(UTC), per_page=10_000
    )
    return page.rows


def _net(settled: Settled, settlement_id: str) -> dict[tuple[str, str], Decimal]:
    """Net adjustments per (post, kind) as the API lists them."""
    listed = settled.api.client.get(
        f"/v1/settlements/{settlement_id}/adjustments", headers=settled.api.reviewer
    ).json()
    out: dict[tuple[str, str], Decimal] = {}
    for a in listed:
        out[(a["post_id"], a["kind"])] = out.get((a["post_id"], a["kind"]), _ZERO) + Decimal(a["amount"])
    return out


def _decide(client: TestClient, csrf: str, case_id: str, action: str) -> Any:
    answer = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": action, "note": "checked with the brand", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer


def _reopen(admin: TestClient, csrf: str, case_id: str) -> str:
    done = admin.post(
        f"/review/cases/{case_id}/reopen",
        data={"note": "the creator sent new proof", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return str(done.headers["location"]).rsplit("/", 1)[-1]


def _audit(settled: Settled, settlement_id: str, action: str) -> list[dict[str, Any]]:
    trail = settled.api.client.get(
        "/v1/audit", params={"target": settlement_id, "limit": 1000}, headers=settled.api.admin
    ).json()
    return [e for e in trail if e["action"] == action]


def test_at_stake_is_what_a_case_can_still_pay_after_other_cases_released(settled: Settled) -> None:
    console = _console(settled)
    creators = {c.creator_id: c for c in _open(console, CaseKind.CREATOR, OPEN_CAMPAIGN)}
    post = next(p for p in _open(console, CaseKind.POST, OPEN_CAMPAIGN) if p.creator_id in creators)
    creator = creators[post.creator_id]
    assert creator.at_stake == creator.held and post.at_stake == post.held > 0
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    _decide(client, csrf, post.case_id, "clear")
    now = datetime.now(UTC)
    after = console.cases.get(creator.case_id, now=now)
    assert after.at_stake == creator.held - post.held  # exact: the post case's release is gone from it
    page = client.get(f"/review/cases/{creator.case_id}").text
    assert f"pays {after.at_stake}" in page  # what clearing it pays, said before the click
    _decide(client, csrf, creator.case_id, "clear")
    net = _net(settled, creator.settlement_id)
    line = next(p for p in settled.settlements[OPEN_CAMPAIGN]["posts"] if p["post_id"] == post.post_id)
    assert net[(post.post_id, "release")] == Decimal(line["held_amount"])  # released once, not twice


def _reopen_and_decide_again(settled: Settled, case: CaseRow) -> tuple[str, str]:
    """Clear a case, reopen it as an admin (the form says what happens to the money), clear it again."""
    client = settled.api.client
    admin = TestClient(client.app, raise_server_exceptions=False)
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    csrf_admin = sign_in(admin, bearer_secret(settled.api.admin))
    before = _net(settled, case.settlement_id)
    _decide(client, csrf, case.case_id, "clear")
    paid = _net(settled, case.settlement_id)
    moved = {k: v - before.get(k, _ZERO) for k, v in paid.items() if v != before.get(k, _ZERO)}
    assert moved and all(v > 0 for v in moved.values())
    page = admin.get(f"/review/cases/{case.case_id}").text
    assert 'id="reopen-effects"' in page and page.count("is reversed") == len(moved)
    fresh = _reopen(admin, csrf_admin, case.case_id)
    assert _net(settled, case.settlement_id) == {**before, **{k: before.get(k, _ZERO) for k in moved}}
    reversals = _audit(settled, case.settlement_id, "adjustment.reversal")
    assert len(reversals) == len(moved)
    again = admin.post(
        f"/review/cases/{case.case_id}/reopen", data={"note": "twice", "csrf_token": csrf_admin}
    )
    assert again.status_code == 409  # reopened once: its releases are reversed once
    now = datetime.now(UTC)
    assert console_at_stake(settled, fresh, now) == case.at_stake  # the money is kept again
    _decide(client, csrf, fresh, "clear")
    assert _net(settled, case.settlement_id) == paid  # paid once over both decisions, not twice
    return case.case_id, fresh


def console_at_stake(settled: Settled, case_id: str, now: datetime) -> Decimal:
    return _console(settled).cases.get(case_id, now=now).at_stake


def test_reopening_before_the_cutoff_reverses_the_release(settled: Settled) -> None:
    console = _console(settled)
    case = max(_open(console, CaseKind.CREATOR, OPEN_CAMPAIGN), key=lambda c: c.held)
    _reopen_and_decide_again(settled, case)
    assert _audit(settled, case.settlement_id, "review.clawback_item") == []


def test_reopening_after_the_money_left_records_clawback_items(settled: Settled) -> None:
    console = _console(settled)
    case = max(_open(console, CaseKind.POST, CLOSED_CAMPAIGN), key=lambda c: c.held)
    admin = TestClient(settled.api.client.app, raise_server_exceptions=False)
    sign_in(admin, bearer_secret(settled.api.admin))
    _reopen_and_decide_again(settled, case)
    items = _audit(settled, case.settlement_id, "review.clawback_item")
    assert [
        (i["detail"]["post_id"], i["detail"]["creator_id"], Decimal(i["detail"]["amount"])) for i in items
    ] == [(case.post_id, case.creator_id, case.at_stake)]
    listed = settled.api.client.get(
        f"/v1/settlements/{case.settlement_id}/adjustments", headers=settled.api.reviewer
    ).json()
    assert any("clawback item" in a["reason"] and Decimal(a["amount"]) < 0 for a in listed)


def test_a_reopen_of_a_decision_that_moved_nothing_reverses_nothing(settled: Settled) -> None:
    console = _console(settled)
    case = _open(console, CaseKind.POST, OPEN_CAMPAIGN)[0]
    client = settled.api.client
    admin = TestClient(client.app, raise_server_exceptions=False)
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    csrf_admin = sign_in(admin, bearer_secret(settled.api.admin))
    _decide(client, csrf, case.case_id, "confirm_fraud")
    page = admin.get(f"/review/cases/{case.case_id}").text
    assert "moved no money: nothing is reversed" in page
    assert csrf_of(page)
    _reopen(admin, csrf_admin, case.case_id)
    assert _audit(settled, case.settlement_id, "adjustment.reversal") == []


def test_the_review_links_migration_applies_and_downgrades(tmp_path: Any, database_url: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from serving.db.engine import MIGRATIONS_DIR, make_engine

    url = database_url or f"sqlite:///{tmp_path / 'migrate.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    tables = {"review_case_posts", "review_group_links", "review_views"}
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            assert tables <= set(inspect(connection).get_table_names())
            command.downgrade(config, "0011")
            assert not tables & set(inspect(connection).get_table_names())
            command.upgrade(config, "head")
            assert tables <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_an_older_database_gets_creator_and_group_cases_and_money_per_post_once(settled: Settled) -> None:
    from sqlalchemy import delete, func, select

    from serving.db.models import ReviewCase, ReviewCasePost, ReviewGroupLink

    console = _console(settled)
    stored = console.cases.stored_cases

    def counts() -> dict[str, int]:
        with stored.session() as session:
            kinds = dict(
                session.execute(select(ReviewCase.kind, func.count()).group_by(ReviewCase.kind)).all()
            )
            parts = session.scalar(select(func.count()).select_from(ReviewCasePost))
            links = session.scalar(select(func.count()).select_from(ReviewGroupLink))
        return {
            **{str(k): int(v) for k, v in kinds.items()},
            "parts": int(parts or 0),
            "links": int(links or 0),
        }

    before = counts()
    total = console.cases.queue_page(QueueFilter(), now=datetime.now(UTC)).money
    assert before["creator"] > 0 and before["group"] > 0 and before["parts"] > 0
    with stored.session() as session:  # what a database from before the v2 console holds
        session.execute(delete(ReviewCasePost))
        session.execute(delete(ReviewGroupLink))
        session.execute(delete(ReviewCase).where(ReviewCase.kind.in_([CaseKind.CREATOR, CaseKind.GROUP])))
    assert counts()["parts"] == 0 and "creator" not in counts()
    for _ in range(2):  # the console opening (a new process), twice: the same cases, once
        fresh = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
        fresh.cases.sync()
        assert counts() == before
    assert fresh.cases.queue_page(QueueFilter(), now=datetime.now(UTC)).money == total
