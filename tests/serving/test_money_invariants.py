"""Money invariants against a real server (uvicorn as a process) on SQLite and PostgreSQL.

Random sequences of settlements over arbitrary overlapping periods (shifted by
microseconds, nested, as wide as the detection run), exact replays, releases and
clawbacks; after each sequence: no event is in two settlements' ledgers, what was paid
is at most what one settlement of the whole range could pay, and no post was released
or clawed back beyond its amounts. Plus the outside finding: 24 parallel settlements
with shifted ends pay what one does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.db.database import Database
from serving.db.engine import make_engine
from serving.db.settlements import SettlementRepository
from serving.io import event_rows
from tests.live_server import cli_env, create_key, running_server
from tests.serving.conftest import _postgres_database, campaign_terms
from training.simulator import SimConfig, SimulatedSet, simulate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SOURCE_CAMPAIGN = "cmp002"
CENT = Decimal("0.01")
_examples = itertools.count(1)


@dataclass(frozen=True)
class Live:
    """A running server, its keys, and a read-only way into its database."""

    client: httpx.Client
    billing: dict[str, str]
    reviewer: dict[str, str]
    database_url: str
    runs_dir: Path


@dataclass(frozen=True)
class Campaign:
    """One example's campaign: its events (a year of its own) and the detection run over that year."""

    campaign_id: str
    events: pd.DataFrame
    year_start: datetime
    run_id: str


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """One simulated campaign's events (about 900, every scheme on) and its terms."""
    sim: SimulatedSet = simulate(SimConfig(seed=3, scale=0.05))
    events = sim.events[sim.events["campaign_id"] == SOURCE_CAMPAIGN].reset_index(drop=True)
    events.attrs["terms"] = campaign_terms(sim.campaigns, SOURCE_CAMPAIGN)
    return events


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`cpeguard serve` on SQLite or PostgreSQL, with a billing and a reviewer key."""
    home = tmp_path_factory.mktemp(f"money-{request.param}") / "home"
    urls = _postgres_database() if request.param == "postgresql" else iter([None])
    for url in urls:
        env = cli_env(home, **({"CPEGUARD_DATABASE_URL": url} if url else {}))
        keys = {role: create_key(env, role) for role in ("billing", "reviewer")}
        with running_server(env) as base, httpx.Client(base_url=base, timeout=120) as client:
            yield Live(
                client=client,
                billing={"Authorization": f"Bearer {keys['billing']}"},
                reviewer={"Authorization": f"Bearer {keys['reviewer']}"},
                database_url=url or f"sqlite:///{(home / 'cpeguard.db').resolve()}",
                runs_dir=home / "runs",
            )


def _new_campaign(live: Live, source: pd.DataFrame) -> Campaign:
    """The source events under new ids, moved whole years on so each campaign has a year of its own."""
    k = next(_examples)
    campaign_id = f"money{k}"
    events = source.assign(
        campaign_id=campaign_id,
        event_id=f"m{k}-" + source["event_id"].astype("str"),
        post_id=f"m{k}-" + source["post_id"].astype("str"),
        ts=source["ts"] + pd.DateOffset(years=k),  # forward: timestamps before 2000 are rejected
    )
    put = live.client.put(f"/v1/campaigns/{campaign_id}", json=source.attrs["terms"], headers=live.billing)
    assert put.status_code == 200, put.text
    posted = live.client.post("/v1/events", json={"events": event_rows(events)}, headers=live.billing)
    assert posted.status_code == 200 and not posted.json()["rejected"], posted.text
    year = int(events["ts"].dt.year.iloc[0])
    year_start = datetime(year, 1, 1, tzinfo=UTC)
    period = {"period_start": _iso(year_start), "period_end": _iso(datetime(year + 1, 1, 1, tzinfo=UTC))}
    run = live.client.post("/v1/detections", json=period, headers=live.billing)
    assert run.status_code == 201 and run.json()["status"] == "done", run.text
    return Campaign(campaign_id, events, year_start, run.json()["run_id"])


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# a moment of the campaign's year: an event's time or the year's bounds, moved by a few microseconds
# (never out of the year: settlements then reuse the campaign's detection run, so verdicts agree)
_moment = st.tuples(
    st.one_of(st.integers(0, 900), st.sampled_from(["year_start", "year_end"])), st.integers(-2, 2)
)
_op = st.one_of(
    st.tuples(st.just("settle"), _moment, _moment),
    st.tuples(st.just("replay"), st.integers(0, 20)),
    st.tuples(
        st.sampled_from(["release", "clawback"]), st.integers(0, 20), st.integers(0, 50), st.integers(1, 4)
    ),
)


def _at(campaign: Campaign, moment: tuple[Any, int]) -> datetime:
    where, shift = moment
    if where == "year_start":
        base, shift = campaign.year_start, abs(shift)
    elif where == "year_end":
        base, shift = campaign.year_start.replace(year=campaign.year_start.year + 1), -abs(shift)
    else:
        times = campaign.events["ts"].sort_values()
        base = times.iloc[where % len(times)].to_pydatetime()
    return base + timedelta(microseconds=shift)


class _Sequence:
    """What a sequence did: settlement answers by key, and the adjustments made."""

    def __init__(self, live: Live, campaign: Campaign) -> None:
        self.live = live
        self.campaign = campaign
        self.made: dict[str, tuple[dict[str, str], bytes]] = {}  # key -> (body sent, answer)

    def settle(self, start: datetime, end: datetime) -> None:
        start, end = min(start, end), max(start, end)
        if start == end:
            return
        key = f"{self.campaign.campaign_id}-{len(self.made)}-{start.timestamp()}-{end.timestamp()}"
        body = {
            "campaign_id": self.campaign.campaign_id,
            "period_start": _iso(start),
            "period_end": _iso(end),
        }
        answer = self._post(body, key)
        assert answer.status_code in (201, 409), answer.text
        if answer.status_code == 201:
            made = answer.json()
            # the campaign's run decided it (a period without events decides nothing, with no run)
            assert made["detection_run_id"] == self.campaign.run_id or made["n_events"] == 0
            self.made[key] = (body, answer.content)
        else:
            assert "settle" in answer.json()["detail"]

    def replay(self, index: int) -> None:
        if not self.made:
            return
        key, (body, content) = list(self.made.items())[index % len(self.made)]
        again = self._post(body, key)
        assert again.status_code == 200 and again.content == content

    def adjust(self, kind: str, index: int, post: int, quarters: int) -> None:
        """Release or claw back a quarter to a whole of a post's room, or a cent more than all of it."""
        if not self.made:
            return
        settlement = _json(list(self.made.values())[index % len(self.made)][1])
        if not settlement["posts"]:
            return
        held = [line for line in settlement["posts"] if Decimal(line["held_amount"]) > 0]
        lines = held if kind == "release" and held else settlement["posts"]
        line = lines[post % len(lines)]
        base = Decimal(line["held_amount"] if kind == "release" else line["payable"])
        amount = (base * quarters / 4).quantize(CENT) if quarters < 4 else base + CENT
        if amount <= 0:
            return
        url = f"/v1/settlements/{settlement['settlement_id']}/adjustments"
        body = {"post_id": line["post_id"], "kind": kind, "amount": str(amount), "reason": "property test"}
        key = f"adj-{settlement['settlement_id']}-{line['post_id']}-{kind}-{quarters}"
        answer = self.live.client.post(url, json=body, headers={**self.live.reviewer, "Idempotency-Key": key})
        assert answer.status_code in (200, 201, 409, 422), answer.text

    def _post(self, body: dict[str, str], key: str) -> httpx.Response:
        headers = {**self.live.billing, "Idempotency-Key": key}
        return self.live.client.post("/v1/settlements", json=body, headers=headers)


def _json(content: bytes) -> dict[str, Any]:
    return httpx.Response(200, content=content).json()  # type: ignore[no-any-return]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(ops=st.lists(_op, min_size=1, max_size=10))
def test_random_settlements_pay_every_engagement_at_most_once(
    live: Live, source: pd.DataFrame, ops: list[tuple[Any, ...]]
) -> None:
    campaign = _new_campaign(live, source)
    sequence = _Sequence(live, campaign)
    # then the whole year, and the whole year but a microsecond: the second has nothing left
    ops = [
        *ops,
        ("settle", ("year_start", 0), ("year_end", 0)),
        ("settle", ("year_start", 1), ("year_end", 1)),
    ]
    for op in ops:
        if op[0] == "settle":
            sequence.settle(_at(campaign, op[1]), _at(campaign, op[2]))
        elif op[0] == "replay":
            sequence.replay(op[1])
        else:
            sequence.adjust(op[0], op[1], op[2], op[3])
    settlements = [_json(content) for _, content in sequence.made.values()]
    _check_ledger(live, campaign, settlements)
    _check_money(live, campaign, settlements)


def _check_ledger(live: Live, campaign: Campaign, settlements: list[dict[str, Any]]) -> None:
    """Every settlement's events are in its ledger only, and are its period's events nobody settled before."""
    engine = make_engine(live.database_url)
    try:
        held = SettlementRepository(Database(engine)).settled_events(campaign.campaign_id)
    finally:
        engine.dispose()
    ledger = pd.DataFrame(held, columns=["event_id", "settlement_id"])
    assert not ledger["event_id"].duplicated().any()
    assert set(ledger["settlement_id"]) <= {s["settlement_id"] for s in settlements}
    events = campaign.events.drop_duplicates("event_id")
    assert set(ledger["event_id"]) <= set(events["event_id"])
    by_settlement = ledger.groupby("settlement_id")["event_id"].apply(set)
    settled: set[str] = set()
    for s in sorted(settlements, key=lambda s: s["created_at"]):
        start, end = pd.Timestamp(s["period_start"]), pd.Timestamp(s["period_end"])
        in_period = set(events.loc[(events["ts"] >= start) & (events["ts"] < end), "event_id"])
        mine = by_settlement.get(s["settlement_id"], set())
        assert mine == in_period - settled
        assert s["n_events"] == len(mine) and s["n_events_already_settled"] == len(in_period & settled)
        settled |= mine


def _check_money(live: Live, campaign: Campaign, settlements: list[dict[str, Any]]) -> None:
    """Paid (payable, plus releases, less clawbacks) is at most what one settlement of the whole range
    pays or holds for release (the valid engagements' money); no post adjusted beyond its amounts."""
    verdicts = pd.read_parquet(live.runs_dir / campaign.run_id / "engagements.parquet")
    ours = verdicts[verdicts["campaign_id"].astype("str") == campaign.campaign_id]
    valid_money = Decimal(repr(round(float(ours.loc[~ours["invalid"].astype(bool), "unit_price"].sum()), 6)))
    paid = Decimal(0)
    for s in settlements:
        paid += Decimal(s["totals"]["payable"])
        url = f"/v1/settlements/{s['settlement_id']}/adjustments"
        adjustments = live.client.get(url, headers=live.billing).json()
        lines = {line["post_id"]: line for line in s["posts"]}
        for post_id in {a["post_id"] for a in adjustments}:
            mine = [a for a in adjustments if a["post_id"] == post_id]
            released = sum((Decimal(a["amount"]) for a in mine if a["kind"] == "release"), Decimal(0))
            clawed = sum((Decimal(a["amount"]) for a in mine if a["kind"] == "clawback"), Decimal(0))
            assert released <= Decimal(lines[post_id]["held_amount"])
            assert clawed <= Decimal(lines[post_id]["payable"]) + released
            paid += released - clawed
    # each total is within half a cent of its exact amount, and so is the whole range's
    assert paid <= valid_money + CENT * (len(settlements) + 1)


def test_parallel_settlements_with_shifted_ends_pay_once(live: Live, source: pd.DataFrame) -> None:
    campaign = _new_campaign(live, source)
    end = campaign.year_start.replace(year=campaign.year_start.year + 1)

    def settle(i: int) -> httpx.Response:
        body = {
            "campaign_id": campaign.campaign_id,
            "period_start": _iso(campaign.year_start),
            # ends moved back: every request reuses the campaign's detection run
            "period_end": _iso(end - timedelta(microseconds=i)),
        }
        headers = {**live.billing, "Idempotency-Key": f"{campaign.campaign_id}-shifted-{i}"}
        return live.client.post("/v1/settlements", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(settle, range(24)))
    made = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json()["detail"] for a in answers if a.status_code == 409]
    unexpected = [a.text[:200] for a in answers if a.status_code not in (201, 409)]
    assert len(made) == 1 and len(refused) == 23, unexpected
    assert all(made[0]["settlement_id"] in detail for detail in refused)
    assert made[0]["n_events"] == campaign.events["event_id"].nunique()
