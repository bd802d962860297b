"""Each engagement settled at most once whatever the periods, money rounded once, large settlements 202."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from benchmarks.ledger import empty_settlement
from serving.db.claims import Claim, ClaimMismatch
from serving.db.database import Database
from serving.db.engine import MIGRATIONS_DIR, make_engine, migrate
from serving.db.events import EventRepository
from serving.db.settlements import SettlementRepository
from serving.io import event_rows
from serving.ledger_rows import held_rows
from serving.money import apportion, rounded_total
from serving.settlement import post_lines
from serving.verdicts import moments_ns
from tests.serving.conftest import Api, make_api
from tests.serving.test_api import CAMPAIGN, SETTLE, _load, _settle
from training.simulator import SimulatedSet


def test_overlapping_periods_settle_only_what_no_settlement_covered(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    early = _settle(api, "early", {**SETTLE, "period_end": "2025-03-20T00:00:00Z"}).json()
    assert early["n_events"] > 0 and early["n_events_already_settled"] == 0
    whole = _settle(api, "whole", {**SETTLE, "period_start": "2000-01-01T00:00:00Z"})
    assert whole.status_code == 201, whole.text
    rest = whole.json()
    assert rest["n_events_already_settled"] == early["n_events"]
    assert rest["already_settled_by"] == [early["settlement_id"]]
    n_stored = sim.events.loc[sim.events["campaign_id"] == CAMPAIGN, "event_id"].nunique()
    assert early["n_events"] + rest["n_events"] == n_stored
    # moved by a microsecond, nested, or a century wide: nothing new, 409 naming both
    for key, period in {
        "shifted": {"period_end": "2025-04-10T00:00:00.000001Z"},
        "nested": {"period_start": "2025-03-10T00:00:00Z", "period_end": "2025-03-25T00:00:00Z"},
        "century": {"period_start": "1950-01-01T00:00:00Z", "period_end": "2050-01-01T00:00:00Z"},
    }.items():
        again = _settle(api, key, {**SETTLE, **period})
        assert again.status_code == 409, (key, again.text)
        detail = again.json()["detail"]
        assert early["settlement_id"] in detail or rest["settlement_id"] in detail
    # exact replays are kept, byte for byte
    replay = _settle(api, "early", {**SETTLE, "period_end": "2025-03-20T00:00:00Z"})
    assert replay.status_code == 200 and replay.json() == early
    ledger = api.client.app.state.services.db.settlements  # type: ignore[attr-defined]
    early_events = set(ledger.ledger_of(early["settlement_id"]))
    rest_events = set(ledger.ledger_of(rest["settlement_id"]))
    assert len(early_events) == early["n_events"] and len(rest_events) == rest["n_events"]
    assert not early_events & rest_events


def test_sub_cent_prices_are_summed_exactly_and_rounded_once() -> None:
    # 1,000 posts of 3 likes at 0.015: 0.045 each, 45.00 in all (rounding each line paid 40.00)
    n = 1000
    posts = pd.DataFrame(
        {
            "post_id": [f"p{i:04d}" for i in range(n)],
            "creator_id": "c1",
            "claimed": 3,
            "valid": 3,
            "decision": "pay",
            "claimed_amount": np.full(n, 3 * 0.015),
            "payable": np.full(n, 3 * 0.015),
            "held_amount": 0.0,
            "reasons": "",
        }
    )
    lines = post_lines(posts)
    assert sum((line.payable for line in lines), Decimal(0)) == Decimal("45.00")
    assert sum((line.claimed_amount for line in lines), Decimal(0)) == Decimal("45.00")
    assert {line.payable for line in lines} == {Decimal("0.04"), Decimal("0.05")}
    assert all(line.withheld_amount == 0 and line.held_amount == 0 for line in lines)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals(min_value=0, max_value=10_000, places=6), max_size=40))
def test_apportioned_cents_add_up_to_the_total_rounded_once(amounts: list[Decimal]) -> None:
    cents = apportion(amounts)
    assert sum(cents, Decimal(0)) == rounded_total(amounts)
    assert all(
        abs(c - a) < Decimal("0.01") and c == c.quantize(Decimal("0.01"))
        for c, a in zip(cents, amounts, strict=True)
    )
    assert all(c == a for c, a in zip(cents, amounts, strict=True) if a == a.quantize(Decimal("0.01")))


def test_large_settlement_is_made_in_the_background(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None, sync_detection_max_events=10):
        _load(api, sim)
        started = _settle(api, "big")
        assert started.status_code == 202, started.text
        pending = started.json()
        assert pending["status"] in ("queued", "running", "done")
        assert (
            started.headers["Location"]
            == pending["status_url"]
            == f"/v1/settlements/{pending['settlement_id']}"
        )
        again = _settle(api, "big")
        assert again.status_code in (200, 202) and again.headers["Idempotent-Replayed"] == "true"
        deadline = time.monotonic() + 60
        polled = api.client.get(pending["status_url"], headers=api.billing)
        while polled.status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.1)
            polled = api.client.get(pending["status_url"], headers=api.billing)
        assert polled.status_code == 200, polled.text
        made = polled.json()
        assert made["settlement_id"] == pending["settlement_id"] and made["n_events"] > 0
        assert made["detection_run_id"] is not None
        replay = _settle(api, "big")
        assert replay.status_code == 200 and replay.content == polled.content
        # a later overlapping request finds everything settled: 409 at once, nothing queued
        covered = _settle(api, "big-2", {**SETTLE, "period_start": "2025-02-01T00:00:00Z"})
        assert covered.status_code == 409 and made["settlement_id"] in covered.json()["detail"]


def test_migration_backfills_the_ledger_from_earlier_settlements(tmp_path: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    at = "2025-03-{:02d} 00:00:00.000000"
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        batches = [(1, at.format(1)), (2, at.format(20))]  # the second arrived after the settlements
        connection.execute(
            text(
                "INSERT INTO ingest_batches (id, source, n_rows, accepted, duplicates, rejected, actor, "
                "created_at) VALUES (:id, 'test', 1, 1, 0, 0, 'k', :at)"
            ),
            [{"id": i, "at": when} for i, when in batches],
        )
        events = [("e1", 1, 2), ("e2", 1, 5), ("e3", 1, 8), ("late", 2, 3)]  # (event_id, batch, day)
        connection.execute(
            text("INSERT INTO events (event_id, campaign_id, ts, batch_id) VALUES (:e, 'c1', :ts, :b)"),
            [{"e": e, "b": b, "ts": at.format(day)} for e, b, day in events],
        )
        settlements = [("s1", 1, 6, 10), ("s2", 4, 9, 11)]  # (id, first day, end day, made on day)
        connection.execute(
            text(
                "INSERT INTO settlements (id, idempotency_key, request_hash, campaign_id, period_start, "
                "period_end, run_id, status, claimed_amount, payable_amount, held_amount, body, actor, "
                "created_at) VALUES (:id, :id, 'h', 'c1', :start, :end, NULL, 'settled', 0, 0, 0, '{}', "
                "'k', :made)"
            ),
            [
                {"id": i, "start": at.format(a), "end": at.format(b), "made": at.format(m)}
                for i, a, b, m in settlements
            ],
        )
    migrate(engine)
    with engine.connect() as connection:
        ledger: dict[str, str] = dict(
            connection.execute(text("SELECT event_id, settlement_id FROM settled_engagements")).all()
        )
    engine.dispose()
    # e2 lies in both periods: the earlier settlement has it; the late event is still open
    assert ledger == {"e1": "s1", "e2": "s1", "e3": "s2"}


def test_late_batches_and_replayed_events_are_settled_once(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    first = _settle(api, "first").json()
    assert first["n_events"] > 0
    # every event posted again in a later batch (a client's retry) with one new event late into the period
    events = sim.events[sim.events["campaign_id"] == CAMPAIGN]
    late = events.head(1).assign(event_id="late-1", ts=pd.Timestamp("2025-03-15 12:00", tz="UTC"))
    posted = api.client.post(
        "/v1/events", json={"events": event_rows(pd.concat([events, late]))}, headers=api.billing
    )
    assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text
    wider = _settle(api, "wider", {**SETTLE, "period_start": "2000-01-01T00:00:00Z"})
    assert wider.status_code == 201, wider.text
    again = wider.json()
    assert again["n_events"] == 1 and again["n_events_already_settled"] == first["n_events"]
    assert again["already_settled_by"] == [first["settlement_id"]]
    ledger = api.client.app.state.services.db.settlements  # type: ignore[attr-defined]
    assert ledger.ledger_of(again["settlement_id"]) == ["late-1"]
    held = ledger.settled_events(CAMPAIGN)
    assert len(held) == len({event_id for event_id, _ in held}) == first["n_events"] + 1
    # nothing is left: wider still is refused, naming both
    refused = _settle(api, "widest", {**SETTLE, "period_start": "1999-01-01T00:00:00Z"})
    assert refused.status_code == 409
    assert first["settlement_id"] in refused.text and again["settlement_id"] in refused.text


def _listed_before_claims(tmp_path: Path) -> Engine:
    """A database at 0013: campaign c1's events e1, e2, e3 (batch 1), settlement s1 listing e1 and e2."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    at = "2025-03-{:02d} 00:00:00.000000"
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0013")
        connection.execute(
            text(
                "INSERT INTO ingest_batches (id, source, n_rows, accepted, duplicates, rejected, actor, "
                "created_at) VALUES (1, 'test', 3, 3, 0, 0, 'k', :at)"
            ),
            {"at": at.format(1)},
        )
        connection.execute(
            text("INSERT INTO events (event_id, campaign_id, ts, batch_id) VALUES (:e, 'c1', :ts, 1)"),
            [{"e": e, "ts": at.format(day)} for e, day in (("e1", 2), ("e2", 5), ("e3", 8))],
        )
        connection.execute(
            text(
                "INSERT INTO settlements (id, idempotency_key, request_hash, campaign_id, period_start, "
                "period_end, run_id, status, claimed_amount, payable_amount, held_amount, body, actor, "
                "created_at) VALUES ('s1', 's1', 'h', 'c1', :start, :end, NULL, 'settled', 0, 0, 0, '{}', "
                "'k', :end)"
            ),
            {"start": at.format(1), "end": at.format(6)},
        )
        connection.execute(
            text(
                "INSERT INTO settled_engagements (event_id, settlement_id, campaign_id, ts) "
                "VALUES (:e, 's1', 'c1', :ts)"
            ),
            [{"e": e, "ts": at.format(day)} for e, day in (("e1", 2), ("e2", 5))],
        )
    return engine


def test_settlements_listed_before_the_claims_keep_their_events(tmp_path: Path) -> None:
    """A database with per-event ledger rows (before 0014): those events stay with their settlement,
    and a claim over them holds only the rest."""
    engine = _listed_before_claims(tmp_path)
    migrate(engine)
    repo = SettlementRepository(Database(engine))
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 20, tzinfo=UTC)
    assert repo.coverage("c1", start, end) == (1, ["s1"])
    ledger = repo.ledger_about("c1", start, end)
    assert ledger.listed == {"e1": "s1", "e2": "s1"} and ledger.after_listed

    def claim(settlement_id: str, n_events: int) -> None:
        with repo.session() as session:
            session.add(empty_settlement(settlement_id, (start, end), campaign_id="c1", created_at=end))
            session.flush()
            repo.add_to_ledger(
                session, settlement_id, "c1", Claim(start, end, 1, ledger.taken, n_events, True)
            )

    with pytest.raises(ClaimMismatch):  # the listed events are not the claim's to decide on
        claim("s_all", 3)
    claim("s2", 1)
    assert repo.ledger_of("s2") == ["e3"] and sorted(repo.ledger_of("s1")) == ["e1", "e2"]
    assert sorted(repo.settled_events("c1")) == [("e1", "s1"), ("e2", "s1"), ("e3", "s2")]
    assert repo.coverage("c1", start, end) == (0, ["s1", "s2"])
    # a window's rows: the listed ones are s1's although s2's piece spans their times
    after = repo.ledger_about("c1", start, end)
    frame = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "ts": [f"2025-03-0{d}" for d in (2, 5, 8)]})
    events = EventRepository(repo.db)
    for n, by in ((3, ("s1", "s2")), (2, ("s1",))):
        held = held_rows(
            after,
            frame["event_id"].head(n),
            moments_ns(frame["ts"].head(n)),
            period=(start, end),
            through=1,
            read_ids=lambda boxes: events.ids_in_pieces("c1", boxes),
        )
        assert held.rows.all() and held.n_events == n and held.by == by
    engine.dispose()
