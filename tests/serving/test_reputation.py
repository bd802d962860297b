"""Reputation that persists, on a real service (SQLite and PostgreSQL).

The review fixtures' world: two simulated campaigns settled over March 2025, one
with a small IP farm and a fan flagged for one like through the farm's IP. The
run that settled them confirms the farm's accounts (and the fan) on structural
evidence; a reviewer clears the fan. Weeks later both come back, engaging an
ordinary post with nothing structural about it: the farm account is known
(``known_seller``, decayed with age, never alone invalid), the cleared fan is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from serving.db.database import as_utc
from serving.db.engine import MIGRATIONS_DIR, make_engine
from serving.io import event_rows
from serving.reputation import known_accounts
from serving.review.cases import QueueFilter
from serving.review.service import build_review
from tests.review.conftest import (
    FARM_ACCOUNTS,
    FLAGGED_FAN,
    OPEN_CAMPAIGN,
    REVIEW_PARAMS,
    load_and_settle,
    principal,
)
from tests.serving.conftest import Api, make_api
from training.simulator import SimulatedSet

HALF_LIFE_DAYS = 30.0
SELLER = FARM_ACCOUNTS[0]
LATER = "cmp_later"


@pytest.fixture
def remembered(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[tuple[Api, str, str]]:
    """The review world settled, its farm confirmed by the run and its fan cleared by a reviewer."""
    for api in make_api(
        tmp_path / "home",
        database_url,
        params=REVIEW_PARAMS,
        signoff_withheld_share=0.5,
        reputation_half_life_days=HALF_LIFE_DAYS,
    ):
        settled = load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
        services: Any = api.client.app.state.services  # type: ignore[attr-defined]
        run_id = services.db.settlements.settlement(settled[OPEN_CAMPAIGN]["settlement_id"]).run_id
        console = build_review(services)
        console.cases.sync()
        now = datetime.now(UTC)
        rows = console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="account"), now=now)
        fan = next(r for r in rows if r.account_id == FLAGGED_FAN)
        user = principal(api.client, "reviewer")
        console.decisions.decide(fan.case_id, action="clear", note="a real fan", user=user, now=now)
        yield api, run_id, fan.case_id


def _later_window(api: Api, *, start: pd.Timestamp) -> pd.DataFrame:
    """A week's ordinary post: twelve accounts like it hours apart, the seller and the fan among them;
    run and settle it. The run's verdicts."""
    users = [SELLER, FLAGGED_FAN, *(f"u_later_{i}" for i in range(10))]
    events = pd.DataFrame(
        {
            "event_id": [f"later-{start.date()}-{i}" for i in range(len(users))],
            "platform": "douyin",
            "campaign_id": LATER,
            "post_id": f"p_later_{start.date()}",
            "creator_id": "k_later",
            "user_id": users,
            "action": "like",
            "ts": [start + pd.Timedelta(hours=5 * i + 1) for i in range(len(users))],
            "device_id": [f"dev-later-{u}" for u in users],
            "ip": [f"ip-later-{u}" for u in users],
            "user_created_at": pd.Timestamp("2023-01-01T00:00:00Z"),
            "user_followers": 40,
            "comment_text": None,
        }
    )
    posted = api.client.post("/v1/events", json={"events": event_rows(events)}, headers=api.billing)
    assert posted.status_code == 200 and not posted.json()["rejected"], posted.text
    period = {"period_start": start.isoformat(), "period_end": (start + pd.Timedelta(days=7)).isoformat()}
    answer = api.client.post(
        "/v1/settlements",
        json={"campaign_id": LATER, **period},
        headers={**api.billing, "Idempotency-Key": f"later-{start.date()}"},
    )
    assert answer.status_code == 201, answer.text
    settlement = answer.json()
    assert settlement["totals"]["payable"] == settlement["totals"]["claimed"]  # every like paid
    services: Any = api.client.app.state.services  # type: ignore[attr-defined]
    verdicts = services.detection.verdicts(settlement["detection_run_id"])
    return verdicts.set_index(verdicts["user_id"].astype("str"))


def _register_later(api: Api, start: pd.Timestamp, end: pd.Timestamp) -> None:
    terms = {
        "platform": "douyin",
        "currency": "CNY",
        **{f"price_{a}": "0.10" for a in ("like", "favorite", "comment", "share")},
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }
    assert api.client.put(f"/v1/campaigns/{LATER}", json=terms, headers=api.billing).status_code == 200


def test_a_confirmed_account_is_known_later_decayed_and_a_cleared_one_is_not(
    remembered: tuple[Api, str, str],
) -> None:
    api, run_id, fan_case = remembered
    services: Any = api.client.app.state.services  # type: ignore[attr-defined]
    memory = services.db.reputation
    by_run = {e.account_id: e for e in memory.of_source(run_id)}
    assert SELLER in by_run and by_run[SELLER].verdict == "confirmed" and by_run[SELLER].source == "run"
    established = pd.Timestamp(as_utc(by_run[SELLER].established_at))
    assert pd.Timestamp("2025-03-01", tz="UTC") <= established < pd.Timestamp("2025-04-10", tz="UTC")
    assert by_run[FLAGGED_FAN].verdict == "confirmed"  # flagged through the farm's IP
    cleared = memory.of_source(fan_case)
    assert [(e.account_id, e.verdict, e.source) for e in cleared] == [(FLAGGED_FAN, "cleared", "case")]

    first, second = pd.Timestamp("2025-06-02", tz="UTC"), pd.Timestamp("2025-07-14", tz="UTC")
    _register_later(api, first, second + pd.Timedelta(days=7))
    risks = []
    for start in (first, second):
        verdicts = _later_window(api, start=start)
        expected = 0.5 ** ((start - established) / pd.Timedelta(days=HALF_LIFE_DAYS))
        seller = verdicts.loc[SELLER]
        # known: weak evidence only, under the weak cap, never invalid on its own
        assert not seller["invalid"] and seller["reason"] == ""
        assert float(seller["risk"]) == pytest.approx(expected, abs=1e-9)
        assert float(verdicts.loc[FLAGGED_FAN, "risk"]) == 0.0  # cleared by review: not known
        assert not verdicts["invalid"].any()
        risks.append(float(seller["risk"]))
    assert risks[1] < risks[0] < REVIEW_PARAMS.policy.weak_cap  # decayed with age


def test_the_reputation_migration_applies_and_downgrades(tmp_path: Path, database_url: str | None) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'migrate.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            assert "reputation" in inspect(connection).get_table_names()
            command.downgrade(config, "0008")
            assert "reputation" not in inspect(connection).get_table_names()
            command.upgrade(config, "head")
            assert "reputation" in inspect(connection).get_table_names()
    finally:
        engine.dispose()


def test_known_accounts_decay_and_a_clearance_voids_what_came_before_it() -> None:
    at = pd.Timestamp("2026-11-01T00:00:00Z")
    entries = pd.DataFrame(
        {
            "account_id": ["seller", "seller", "fan", "fan", "again", "again"],
            "verdict": ["confirmed", "confirmed", "confirmed", "cleared", "cleared", "confirmed"],
            "source": ["run", "case", "run", "case", "case", "run"],
            "source_id": ["det_1", "rc_1", "det_2", "rc_2", "rc_3", "det_3"],
            "established_at": [at, at + pd.Timedelta(days=10), at, at, at, at + pd.Timedelta(days=1)],
        }
    )
    as_of = (at + pd.Timedelta(days=30)).to_pydatetime()
    known = known_accounts(entries, as_of=as_of, half_life_days=10.0).set_index("account_id")
    assert sorted(known.index) == ["again", "seller"]  # the fan was cleared after its confirmation
    assert known.loc["seller", "score"] == pytest.approx(0.25)  # the freshest: the case, 20 days old
    assert known.loc["seller", "source"] == "review case rc_1"
    assert known.loc["again", "source"] == "run det_3"  # confirmed again after its clearance
    only_runs = known_accounts(entries.iloc[:1], as_of=as_of, half_life_days=10.0)
    assert only_runs["score"].tolist() == [pytest.approx(0.125)]


def test_a_reopened_clearance_is_superseded_and_the_account_is_known_again(
    remembered: tuple[Api, str, str],
) -> None:
    api, _, fan_case = remembered
    services: Any = api.client.app.state.services  # type: ignore[attr-defined]
    console = build_review(services)
    admin = principal(api.client, "admin")
    console.cases.reopen_decision(fan_case, user=admin, note="not a fan after all", now=datetime.now(UTC))
    start = pd.Timestamp("2025-06-02", tz="UTC")
    _register_later(api, start, start + pd.Timedelta(days=7))
    verdicts = _later_window(api, start=start)
    assert 0.0 < float(verdicts.loc[FLAGGED_FAN, "risk"]) < REVIEW_PARAMS.policy.weak_cap
    assert not verdicts.loc[FLAGGED_FAN, "invalid"]
