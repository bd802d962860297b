"""The settlement part of the settlement API benchmark (``benchmarks.api``): under the engagement
ledger each engagement settles at most once, so each line measures one kind of request.

50 settlements of disjoint periods of ``cmpbig`` (the first half of its events' span cut in
100), then the one settlement of the whole campaign (it claims what the disjoint ones left),
then 50 nested periods inside it (every event settled: 409), then replays of the whole one.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.api_campaigns import BIG_CAMPAIGN, BIG_END, BIG_START
from benchmarks.latency import percentiles_ms

N_SETTLE = 50
N_SLICES = 100  # the campaign's span cut in this many periods; the first N_SETTLE are settled
N_REPLAY = 100


def iso(moment: datetime) -> str:
    """A moment as the API's period bounds (whole seconds, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


SETTLE_METHOD = (
    f"settle: {N_SETTLE} settlements of {BIG_CAMPAIGN} over disjoint periods, the first {N_SETTLE} "
    f"of its events' span cut in {N_SLICES} (each made, claiming its events in the ledger); "
    f"settle_whole: then the one settlement of [{iso(BIG_START)}, {iso(BIG_END)}) (made: claims "
    f"every event the disjoint ones did not); settle_refused: then {N_SETTLE} nested periods "
    f"[{iso(BIG_START)}, {iso(BIG_END)} - i s], i = 1..{N_SETTLE}, every event settled (409); "
    f"then {N_REPLAY} replays of the whole-campaign settlement (same Idempotency-Key, same body); "
    "all inside the finished detection run"
)


def _count(statuses: dict[str, int], code: int) -> None:
    statuses[str(code)] = statuses.get(str(code), 0) + 1


def _post_settlement(
    client: httpx.Client, billing: dict[str, str], start: datetime, end: datetime
) -> tuple[float, httpx.Response, str, dict[str, str]]:
    """One settlement of ``BIG_CAMPAIGN`` over ``[start, end)`` under a fresh key.

    Returns (seconds, answer, key, body)."""
    body = {"campaign_id": BIG_CAMPAIGN, "period_start": iso(start), "period_end": iso(end)}
    key = f"bench-{uuid.uuid4().hex}"
    started = time.perf_counter()
    answer = client.post("/v1/settlements", json=body, headers={**billing, "Idempotency-Key": key})
    return time.perf_counter() - started, answer, key, body


def _settle_many(
    client: httpx.Client, billing: dict[str, str], periods: list[tuple[datetime, datetime]]
) -> dict[str, Any]:
    """Settlements of ``periods`` one after the other: latency, statuses, events and posts of the made."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    claimed: list[int] = []
    posts: list[int] = []
    for start, end in periods:
        seconds, answer, _, _ = _post_settlement(client, billing, start, end)
        latencies.append(seconds)
        _count(statuses, answer.status_code)
        if answer.status_code == 201:
            claimed.append(int(answer.json()["n_events"]))
            posts.append(len(answer.json()["posts"]))
    made = (
        {"events_median": float(np.median(claimed)), "posts_median": float(np.median(posts))}
        if claimed
        else {}
    )
    return {**percentiles_ms(latencies), "statuses": statuses, **made, "events_total": sum(claimed)}


def event_span(events: pd.DataFrame) -> tuple[datetime, datetime]:
    """The whole seconds from the first event to just after the last."""
    ts = pd.to_datetime(events["ts"], utc=True)
    return ts.min().floor("s").to_pydatetime(), ts.max().floor("s").to_pydatetime() + timedelta(seconds=1)


def settle(client: httpx.Client, billing: dict[str, str], events: pd.DataFrame) -> tuple[dict[str, Any], str]:
    """3. settlements of the big campaign: disjoint periods, the whole campaign, refusals, replays.

    ``events`` are the campaign's (their span is cut in periods). Returns the measurements and the
    whole-campaign settlement's id."""
    span = event_span(events)
    step = timedelta(seconds=math.ceil((span[1] - span[0]).total_seconds() / N_SLICES))
    disjoint = [(span[0] + i * step, span[0] + (i + 1) * step) for i in range(N_SETTLE)]
    result: dict[str, Any] = {"settle": _settle_many(client, billing, disjoint)}
    seconds, answer, key, body = _post_settlement(client, billing, BIG_START, BIG_END)
    if answer.status_code != 201:
        raise RuntimeError(
            f"the whole-campaign settlement answered {answer.status_code}: {answer.text[:300]}"
        )
    whole = answer.json()
    result["settle_whole"] = {
        "ms": round(seconds * 1000, 2),
        "n_events": whole["n_events"],
        "n_events_already_settled": whole["n_events_already_settled"],
    }
    result["settlement_posts"] = len(whole["posts"])
    result["settlement_bytes"] = len(answer.content)
    result["settlement_detection_run"] = whole.get("detection_run_id")
    # nested periods inside the settled whole: every event covered, each answered 409
    nested = [(BIG_START, BIG_END - timedelta(seconds=i)) for i in range(1, N_SETTLE + 1)]
    result["settle_refused"] = _settle_many(client, billing, nested)
    replay_latencies: list[float] = []
    replay_statuses: dict[str, int] = {}
    for _ in range(N_REPLAY):
        started = time.perf_counter()
        again = client.post("/v1/settlements", json=body, headers={**billing, "Idempotency-Key": key})
        replay_latencies.append(time.perf_counter() - started)
        _count(replay_statuses, again.status_code)
    result["replay"] = {**percentiles_ms(replay_latencies), "statuses": replay_statuses}
    return result, str(whole["settlement_id"])
