"""A window's settled events decided by the claims' times and batches equal those read by id.

Real databases (a SQLite file and a fresh PostgreSQL database): random events in several
ingest batches, random claims over them, then a window of the batches up to one of them;
``held_rows`` (ranges, and ids only where a piece leaves batches out) must hold exactly the
window's events that ``settled_in`` (every settled event's id, read from the claims) names,
by the same settlements. And a window without some rows hashes as ``events_hash`` would.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks.ledger import empty_settlement, index_events
from serving.db.claims import Claim, count_in_pieces, free_pieces
from serving.db.database import Database
from serving.db.engine import make_engine, migrate
from serving.db.events import EventRepository
from serving.db.settlements import SettlementRepository
from serving.ledger_rows import held_rows
from serving.verdicts import RunVerdicts, events_hash, moments_ns
from training.simulator import SimulatedSet

START = datetime(2025, 3, 1, tzinfo=UTC)
MOMENTS = [START + timedelta(hours=h) for h in range(0, 49, 6)]
N_BATCHES = 4
_campaigns = itertools.count()


@pytest.fixture
def repos(tmp_path: Path, database_url: str | None) -> Iterator[tuple[SettlementRepository, EventRepository]]:
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'rows.db'}")
    migrate(engine)
    db = Database(engine)
    yield SettlementRepository(db), EventRepository(db)
    engine.dispose()


# an event: a moment of the grid, maybe a few microseconds after it (claims begin and end on the grid)
_moment = st.tuples(st.integers(0, len(MOMENTS) - 2), st.sampled_from([0, 1, 7_000_000, 3 * 3600 * 10**6]))
_claim = st.tuples(
    st.integers(0, len(MOMENTS) - 1), st.integers(0, len(MOMENTS) - 1), st.integers(1, N_BATCHES)
)


def _index(repo: SettlementRepository, campaign: str, batches: list[list[tuple[int, int]]]) -> list[int]:
    """Each batch's events indexed for the campaign; the batches' ids."""
    ids = []
    for b, moments in enumerate(batches):
        events = pd.DataFrame(
            {
                "event_id": [f"{campaign}-{b}-{i}" for i in range(len(moments))],
                "campaign_id": campaign,
                "ts": [MOMENTS[m] + timedelta(microseconds=us) for m, us in moments],
            }
        )
        ids.append(index_events(repo.db, events, source="t"))
    return ids


def _claim_all(repo: SettlementRepository, campaign: str, name: str, a: int, b: int, through: int) -> None:
    """A settlement of ``[MOMENTS[a], MOMENTS[b])`` up to batch ``through``: what earlier claims left."""
    start, end = MOMENTS[a], MOMENTS[b]
    taken = repo.ledger_about(campaign, start, end).taken
    with repo.session() as session:
        n = count_in_pieces(session, campaign, free_pieces(start, end, through, taken), after_listed=False)
    if n == 0:
        return
    with repo.session() as session:
        session.add(empty_settlement(name, (start, end), campaign_id=campaign))
        session.flush()
        repo.add_to_ledger(session, name, campaign, Claim(start, end, through, taken, n))


# no shrinking: each example writes to a database, and a shrink took minutes
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    batches=st.lists(st.lists(_moment, min_size=1, max_size=8), min_size=N_BATCHES, max_size=N_BATCHES),
    claims=st.lists(_claim, min_size=1, max_size=5),
    window=_claim,
)
def test_held_rows_by_ranges_are_the_events_the_claims_hold_by_id(
    repos: tuple[SettlementRepository, EventRepository],
    batches: list[list[tuple[int, int]]],
    claims: list[tuple[int, int, int]],
    window: tuple[int, int, int],
) -> None:
    repo, events_repo = repos
    campaign = f"c{next(_campaigns)}"
    batch_ids = _index(repo, campaign, batches)
    # claims made as batches arrive (a claim up to batch k once batch k is stored); one per period
    periods = {(min(a, b), max(a, b)): through for a, b, through in claims if a != b}
    for k, ((a, b), through) in enumerate(sorted(periods.items(), key=lambda c: c[1])):
        _claim_all(repo, campaign, f"{campaign}-s{k}", a, b, batch_ids[through - 1])
    a, b, through = window
    period = (MOMENTS[min(a, b)], MOMENTS[max(a, b)] + timedelta(hours=1))
    rows = [
        (f"{campaign}-{k}-{i}", MOMENTS[m] + timedelta(microseconds=us))
        for k, moments in enumerate(batches[:through])
        for i, (m, us) in enumerate(moments)
    ]
    frame = pd.DataFrame(rows, columns=["event_id", "ts"])
    frame = frame[(frame["ts"] >= period[0]) & (frame["ts"] < period[1])]
    frame = frame.sort_values(["ts", "event_id"], ignore_index=True)
    held = held_rows(
        repo.ledger_about(campaign, *period),
        frame["event_id"],
        moments_ns(frame["ts"]),
        period=period,
        through=batch_ids[through - 1],
        read_ids=lambda boxes: events_repo.ids_in_pieces(campaign, boxes),
        distinct=True,
    )
    settled = repo.settled_in(campaign, *period)
    expected = frame["event_id"].isin(list(settled)).to_numpy()
    assert held.rows.tolist() == expected.tolist()
    assert held.n_events == int(expected.sum())
    assert held.by == tuple(sorted({settled[e] for e in frame.loc[expected, "event_id"]}))


def test_a_window_without_rows_hashes_as_its_events_do(sim: SimulatedSet) -> None:
    events = sim.events.drop_duplicates("event_id").reset_index(drop=True)
    indexed = RunVerdicts(events)
    campaign = str(events["campaign_id"].iloc[0])
    ts = pd.to_datetime(events["ts"], utc=True)
    window = indexed.window(
        campaign, ts.min(), ts.max() + pd.Timedelta("1s"), prices=sim.campaigns, default_unit_price=0.01
    )
    n = len(window.verdicts)
    assert window.lines is not None and n > 100
    rng = np.random.default_rng(0)
    for drop in (
        np.arange(n) < n // 2,  # the first half settled: one run kept
        (np.arange(n) > n // 3) & (np.arange(n) < n // 2),  # a middle stretch: two runs kept
        rng.random(n) < 0.3,  # scattered
        np.ones(n, dtype=bool),
    ):
        left = window.without(drop)
        assert left.input_hash == events_hash(window.verdicts.loc[~drop])
        assert left.verdicts["event_id"].tolist() == window.verdicts.loc[~drop, "event_id"].tolist()
        assert left.price.tolist() == window.price[~drop].tolist()
