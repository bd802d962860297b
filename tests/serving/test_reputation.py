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

from detectors.reputation import known_subjects
from serving.db.database import as_utc
from serving.db.engine import MIGRATIONS_DIR, make_engine
from serving.io import event_rows
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
OTHER = "cmp_other"


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


def _later_window(
    api: Api, *, start: pd.Timestamp, ips: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A week's ordinary post: accounts like it hours apart, the seller and the fan among them (and
    ``extra``; ``ips``: an account's IP other than its own); run and settle it. The run's verdicts."""
    _post_later(api, start=start, ips=ips, extra=extra)
    run_id = _settle_later(api, start=start)
    services: Any = api.client.app.state.services  # type: ignore[attr-defined]
    verdicts = services.detection.verdicts(run_id)
    return verdicts.set_index(verdicts["user_id"].astype("str"))


def _post_later(
    api: Api,
    *,
    start: pd.Timestamp,
    campaign: str = LATER,
    ips: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    users = [SELLER, FLAGGED_FAN, *extra, *(f"u_later_{i}" for i in range(10))]
    events = pd.DataFrame(
        {
            "event_id": [f"{campaign}-{start.date()}-{i}" for i in range(len(users))],
            "platform": "douyin",
            "campaign_id": campaign,
            "post_id": f"p_{campaign}_{start.date()}",
            "creator_id": f"k_{campaign}",
            "user_id": users,
            "action": "like",
            "ts": [start + pd.Timedelta(hours=5 * i + 1) for i in range(len(users))],
            "device_id": [f"dev-later-{u}" for u in users],
            "ip": [(ips or {}).get(u, f"ip-later-{u}") for u in users],
            "user_created_at": pd.Timestamp("2023-01-01T00:00:00Z"),
            "user_followers": 40,
            "comment_text": None,
        }
    )
    posted = api.client.post("/v1/events", json={"events": event_rows(events)}, headers=api.billing)
    assert posted.status_code == 200 and not posted.json()["rejected"], posted.text


def _settle_later(api: Api, *, start: pd.Timestamp, campaign: str = LATER) -> str:
    """Settle the campaign's week; every like is paid. The settlement's detection run."""
    period = {"period_start": start.isoformat(), "period_end": (start + pd.Timedelta(days=7)).isoformat()}
    answer = api.client.post(
        "/v1/settlements",
        json={"campaign_id": campaign, **period},
        headers={**api.billing, "Idempotency-Key": f"{campaign}-{start.date()}"},
    )
    assert answer.status_code == 201, answer.text
    settlement = answer.json()
    assert settlement["totals"]["payable"] == settlement["totals"]["claimed"]  # every like paid
    return str(settlement["detection_run_id"])


def _register_later(api: Api, start: pd.Timestamp, end: pd.Timestamp, campaign: str = LATER) -> None:
    terms = {
        "platform": "douyin",
        "currency": "CNY",
        **{f"price_{a}": "0.10" for a in ("like", "favorite", "comment", "share")},
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }
    assert api.client.put(f"/v1/campaigns/{campaign}", json=terms, headers=api.billing).status_code == 200


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
            assert {"reputation", "reputation_subjects"} <= set(inspect(connection).get_table_names())
            command.downgrade(config, "0009")  # 0010: devices, IPs and groups
            tables = set(inspect(connection).get_table_names())
            assert "reputation" in tables and "reputation_subjects" not in tables
            command.downgrade(config, "0008")
            assert "reputation" not in inspect(connection).get_table_names()
            command.upgrade(config, "head")
            assert {"reputation", "reputation_subjects"} <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _entries(*rows: tuple[str, str, str, str, str, pd.Timestamp]) -> pd.DataFrame:
    """Entries (kind, subject, state, source kind, source id, established_at) in ENTRY_COLUMNS."""
    frame = pd.DataFrame(
        rows, columns=["subject_kind", "subject_id", "state", "source_kind", "source_id", "established_at"]
    )
    return frame.assign(platform="douyin", detail="")


def test_known_accounts_decay_and_a_clearance_voids_what_came_before_it() -> None:
    at = pd.Timestamp("2026-11-01T00:00:00Z")
    day = pd.Timedelta(days=1)
    entries = _entries(
        ("account", "seller", "confirmed", "run", "det_1", at),
        ("account", "seller", "confirmed", "case", "rc_1", at + 10 * day),
        ("account", "fan", "confirmed", "run", "det_2", at),
        ("account", "fan", "cleared", "case", "rc_2", at),
        ("account", "again", "cleared", "case", "rc_3", at),
        ("account", "again", "confirmed", "run", "det_3", at + day),
    )
    as_of = (at + pd.Timedelta(days=30)).to_pydatetime()
    known = known_subjects(entries, as_of=as_of, half_life_days=10.0).set_index("subject_id")
    standing = known.loc[known["score"] > 0]
    assert sorted(standing.index) == ["again", "seller"]  # the fan was cleared after its confirmation
    assert known.loc["fan", "score"] == 0.0 and known.loc["fan", "cleared_at"] == at  # remembered as cleared
    assert known.loc["seller", "score"] == pytest.approx(0.25)  # the freshest: the case, 20 days old
    assert known.loc["seller", "source"] == "review case rc_1"
    assert known.loc["again", "source"] == "run det_3"  # confirmed again after its clearance
    only_runs = known_subjects(entries.iloc[:1], as_of=as_of, half_life_days=10.0)
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


def test_a_farm_ip_is_known_to_a_new_account_behind_it_but_not_to_a_cleared_one(
    remembered: tuple[Api, str, str],
) -> None:
    api, run_id, _ = remembered
    services: Any = api.client.app.state.services  # type: ignore[attr-defined]
    subjects = services.db.reputation.subjects_of_source(run_id)
    farm_ip = next(e for e in subjects if (e.subject_kind, e.subject_id) == ("ip", "ip-farm"))
    assert farm_ip.verdict == "confirmed" and farm_ip.source == "run" and farm_ip.platform != ""
    assert farm_ip.detail.startswith("farm of ") and int(farm_ip.detail.split()[2]) >= len(FARM_ACCOUNTS)

    start = pd.Timestamp("2025-06-02", tz="UTC")
    _register_later(api, start, start + pd.Timedelta(days=7))
    fresh = "u_fresh_behind_the_farm"
    verdicts = _later_window(api, start=start, ips={fresh: "ip-farm", FLAGGED_FAN: "ip-farm"}, extra=(fresh,))
    established = pd.Timestamp(as_utc(farm_ip.established_at))
    expected = 0.5 ** ((start - established) / pd.Timedelta(days=HALF_LIFE_DAYS))
    known = verdicts.loc[fresh]
    # never seen before: known through the farm's IP alone, weak, paid, the run named
    assert float(known["risk"]) == pytest.approx(expected, abs=1e-9) and not known["invalid"]
    # what the run was handed for it: the farm's IP, named by the run that confirmed it (the evidence
    # sentence shows where known_seller adds to structural evidence: tests/detectors/test_reputation.py)
    known_ip = services.detection.reputation.known(
        {"ip": ["ip-farm"]}, start=start.to_pydatetime(), context_start=start.to_pydatetime()
    )
    assert known_ip[["subject_kind", "subject_id"]].values.tolist() == [["ip", "ip-farm"]]
    source = str(known_ip["source"].iloc[0])  # the run settling either campaign of March confirmed it
    confirming = services.db.reputation.subjects_of_source(source.removeprefix("run "))
    assert source.startswith("run det_") and ("ip", "ip-farm") in {
        (e.subject_kind, e.subject_id) for e in confirming
    }
    # the fan, cleared by review after the farm was confirmed, is not known through the farm's IP
    assert float(verdicts.loc[FLAGGED_FAN, "risk"]) == 0.0
    assert not verdicts["invalid"].any()


def test_a_run_is_not_reused_after_a_review_verdict_it_would_read(
    tmp_path: Path, database_url: str | None, sim: SimulatedSet
) -> None:
    """A week's run made before a reviewer cleared an account it saw is not reused for a settlement
    after the clearance: the new run reads the verdict."""
    for api in make_api(
        tmp_path / "home",
        database_url,
        params=REVIEW_PARAMS,
        signoff_withheld_share=0.5,
        reputation_half_life_days=HALF_LIFE_DAYS,
    ):
        load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
        services: Any = api.client.app.state.services  # type: ignore[attr-defined]
        start = pd.Timestamp("2025-06-02", tz="UTC")
        end = start + pd.Timedelta(days=7)
        for campaign in (LATER, OTHER):
            _register_later(api, start, end, campaign=campaign)
            _post_later(api, start=start, campaign=campaign)
        first = _settle_later(api, start=start, campaign=LATER)
        fan_risk = services.detection.verdicts(first).set_index("user_id").loc[FLAGGED_FAN, "risk"]
        assert (fan_risk > 0).all()  # confirmed by March's run through the farm's IP: known
        reuse = {"start": start.to_pydatetime(), "end": end.to_pydatetime(), "campaign_id": OTHER}
        assert services.detection.reusable_run(**reuse) == first  # nothing new: reused

        console = build_review(services)
        console.cases.sync()
        now = datetime.now(UTC)
        rows = console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="account"), now=now)
        fan = next(r for r in rows if r.account_id == FLAGGED_FAN)
        user = principal(api.client, "reviewer")
        console.decisions.decide(fan.case_id, action="clear", note="a real fan", user=user, now=now)

        assert services.detection.reusable_run(**reuse) is None  # the run would ignore the clearance
        second = _settle_later(api, start=start, campaign=OTHER)
        assert second != first
        fan_risk = services.detection.verdicts(second).set_index("user_id").loc[FLAGGED_FAN, "risk"]
        assert (fan_risk == 0).all()
        reuse_later = {**reuse, "campaign_id": LATER}
        assert services.detection.reusable_run(**reuse_later) == second  # and the new run is reused


def test_a_cleared_farm_group_clears_its_ip_for_everyone(
    tmp_path: Path, database_url: str | None, sim: SimulatedSet
) -> None:
    """A reviewer clears the IP farm's group case (say, an office behind one line): the farm's IP is
    remembered as cleared by the case, and a new account behind it later is not known."""
    for api in make_api(
        tmp_path / "home",
        database_url,
        params=REVIEW_PARAMS,
        signoff_withheld_share=0.5,
        reputation_half_life_days=HALF_LIFE_DAYS,
    ):
        load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
        services: Any = api.client.app.state.services  # type: ignore[attr-defined]
        console = build_review(services)
        console.cases.sync()
        now = datetime.now(UTC)
        groups = console.cases.queue(QueueFilter(campaign_id=OPEN_CAMPAIGN, kind="group"), now=now)
        farm = next(r for r in groups if SELLER in console.decisions.group_of(r).members)
        user = principal(api.client, "reviewer")
        console.decisions.decide(farm.case_id, action="clear", note="one office line", user=user, now=now)
        remembered = services.db.reputation.subjects_of_source(farm.case_id)
        assert [(e.subject_kind, e.subject_id, e.verdict, e.source) for e in remembered] == [
            ("ip", "ip-farm", "cleared", "case")
        ]
        start = pd.Timestamp("2025-06-02", tz="UTC")
        _register_later(api, start, start + pd.Timedelta(days=7))
        fresh = "u_fresh_behind_the_office"
        verdicts = _later_window(api, start=start, ips={fresh: "ip-farm"}, extra=(fresh,))
        assert float(verdicts.loc[fresh, "risk"]) == 0.0
        assert float(verdicts.loc[SELLER, "risk"]) == 0.0  # the group's members cleared too
