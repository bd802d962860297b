"""Settlement API benchmark: a real ``cpeguard serve`` on loopback, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.api [--databases sqlite,postgresql] [--events 100000] [--out FILE]``.

For each database it starts the app under uvicorn as a subprocess on a free loopback port,
configured from the environment exactly as ``cpeguard serve`` is, but without the access
log (``benchmarks.live_server``; SQLite file in a temporary home; PostgreSQL: a fresh
database, dropped afterwards), creates a billing and a reviewer key with ``cpeguard keys create`` and
measures with httpx:

1. ingest rate of a simulated set (seed 0): one half as a single Parquet upload, the
   other half as JSON batches (events/s each);
2. a detection run over the whole period (wall seconds until done);
3. ``POST /v1/settlements`` latency for a campaign of at least 1,000 posts: the simulator
   has no campaign that large, so a second simulated set (seed 1, scale 2.3, every
   campaign relabelled ``cmpbig``, ids prefixed, moved one year later) is uploaded and
   detected first. Each engagement settles at most once (the engagement ledger), so: 50
   settlements of disjoint periods (half the campaign's span cut in 50), then the one
   settlement of the whole campaign (it claims the other half), each timed on its own line;
   then 50 nested periods inside it, every event settled, timed as refusals (409); then
   idempotent replays of the whole-campaign settlement;
4. ``GET /v1/settlements/{id}`` of that settlement: 100 sequential, then paced at
   200 requests/s for 10 s.

The machine is shared, so the load average before and after each database is recorded.

Results go to ``--out`` (default ``benchmarks/results/api.json``); a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.api_campaigns import (
    BIG_CAMPAIGN,
    BIG_END,
    BIG_SCALE,
    BIG_SEED,
    BIG_SHIFT,
    BIG_START,
    PERIOD_END,
    PERIOD_START,
    big_campaign,
    campaign_terms,
)
from benchmarks.api_settlements import SETTLE_METHOD, iso, settle
from benchmarks.latency import paced_gets, percentiles_ms
from benchmarks.live_server import live_server, postgres_database
from serving.io import event_rows
from training.simulator import SimConfig, simulate

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
JSON_BATCH = 5_000
GET_RATE = 200
GET_SECONDS = 10


def bench_database(
    database: str, events: pd.DataFrame, campaigns: pd.DataFrame, big: tuple[pd.DataFrame, dict[str, str]]
) -> dict[str, Any]:
    """Every measurement against one fresh server on one database."""
    result: dict[str, Any] = {"database": database, "load_average_before": _load()}
    with tempfile.TemporaryDirectory(prefix="cpeguard-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        with (
            postgres_database() if database == "postgresql" else nullcontext(None) as database_url,
            live_server(home, database_url) as (base, keys),
        ):
            billing = {"Authorization": f"Bearer {keys['billing']}"}
            with httpx.Client(base_url=base, timeout=600) as client:
                for campaign in campaigns["campaign_id"]:
                    answer = client.put(
                        f"/v1/campaigns/{campaign}", json=campaign_terms(campaigns, campaign), headers=billing
                    )
                    answer.raise_for_status()
                result["ingest"] = _ingest(client, events, billing)
                period = {"period_start": iso(PERIOD_START), "period_end": iso(PERIOD_END)}
                result["detection"] = _detect(client, period, billing)
                result["detection_big"] = _detect_big(client, big, billing)
                settled, settlement_id = settle(client, billing, big[0])
                result.update(settled)
            result.update(_gets(base, settlement_id, billing))
            log = (home / "serve.log").read_text(errors="replace")
            result["load_average_after"] = _load()
            result["server_log_errors"] = [
                line for line in log.splitlines() if "Traceback" in line or " 500 " in line or "ERROR" in line
            ][:20]
    return result


def _ingest(client: httpx.Client, events: pd.DataFrame, billing: dict[str, str]) -> dict[str, Any]:
    """1. ingest: a random half as one Parquet file, the other half as JSON batches."""
    file_part, json_part = ingest_halves(events)
    buffer = io.BytesIO()
    file_part.to_parquet(buffer, index=False)
    files = {"file": ("events.parquet", buffer.getvalue(), "application/octet-stream")}
    started = time.perf_counter()
    uploaded = client.post("/v1/events", files=files, headers=billing)
    file_s = time.perf_counter() - started
    uploaded.raise_for_status()
    file_body = uploaded.json()
    rows = event_rows(json_part)
    bodies = [
        json.dumps({"events": rows[i : i + JSON_BATCH]}).encode() for i in range(0, len(rows), JSON_BATCH)
    ]
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    started = time.perf_counter()
    for body in bodies:
        answer = client.post(
            "/v1/events", content=body, headers={**billing, "Content-Type": "application/json"}
        )
        answer.raise_for_status()
        got = answer.json()
        counts["accepted"] += int(got["accepted"])
        counts["duplicates"] += int(got["duplicates"])
        counts["rejected"] += (
            len(got["rejected"]) if isinstance(got["rejected"], list) else int(got["rejected"])
        )
    json_s = time.perf_counter() - started
    return {
        "file": {
            "rows": len(file_part),
            "bytes": len(buffer.getvalue()),
            "seconds": round(file_s, 3),
            "events_per_s": round(len(file_part) / file_s),
            "accepted": file_body["accepted"],
            "duplicates": file_body["duplicates"],
        },
        "json": {
            "rows": len(json_part),
            "batches": len(bodies),
            "batch_size": JSON_BATCH,
            "seconds": round(json_s, 3),
            "events_per_s": round(len(json_part) / json_s),
            **counts,
        },
    }


def ingest_halves(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The benchmark's split of the events: a random half (seed 0) uploaded as a file, the rest as JSON."""
    order = np.random.default_rng(0).permutation(len(events))
    half = len(events) // 2
    return events.iloc[np.sort(order[:half])], events.iloc[np.sort(order[half:])]


def _detect(client: httpx.Client, period: dict[str, str], billing: dict[str, str]) -> dict[str, Any]:
    """2. a detection run over ``period``, polled until it ends; raises unless it is done."""
    started = time.perf_counter()
    answer = client.post("/v1/detections", json=period, headers=billing)
    answer.raise_for_status()
    run = answer.json()
    post_status = answer.status_code
    while run["status"] in ("queued", "running"):
        time.sleep(0.2)
        run = client.get(f"/v1/detections/{run['run_id']}", headers=billing).json()
    if run["status"] != "done":
        raise RuntimeError(f"detection run failed: {run}")
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "post_status": post_status,
        "n_events": run["n_events"],
        "seconds": round(time.perf_counter() - started, 3),
    }


def _detect_big(
    client: httpx.Client, big: tuple[pd.DataFrame, dict[str, str]], billing: dict[str, str]
) -> dict[str, Any]:
    """The >= 1,000-post campaign, a year later: upload, then detect its period."""
    big_events, big_terms = big
    client.put(f"/v1/campaigns/{BIG_CAMPAIGN}", json=big_terms, headers=billing).raise_for_status()
    buffer = io.BytesIO()
    big_events.to_parquet(buffer, index=False)
    files = {"file": ("big.parquet", buffer.getvalue(), "application/octet-stream")}
    client.post("/v1/events", files=files, headers=billing).raise_for_status()
    return _detect(client, {"period_start": iso(BIG_START), "period_end": iso(BIG_END)}, billing)


def _gets(base: str, settlement_id: str, billing: dict[str, str]) -> dict[str, Any]:
    """4. paced GETs of the settlement (after a sequential baseline of 100)."""
    sequential: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        expected = client.get(f"/v1/settlements/{settlement_id}", headers=billing).content
        for _ in range(100):
            started = time.perf_counter()
            client.get(f"/v1/settlements/{settlement_id}", headers=billing).raise_for_status()
            sequential.append(time.perf_counter() - started)
    started = time.perf_counter()
    get_latencies, get_statuses = asyncio.run(
        paced_gets(
            base,
            f"/v1/settlements/{settlement_id}",
            billing,
            expected,
            rate_per_s=GET_RATE,
            seconds=GET_SECONDS,
        )
    )
    get_s = time.perf_counter() - started
    return {
        "get_sequential": percentiles_ms(sequential),
        "get": {
            **percentiles_ms(get_latencies),
            "target_rate_per_s": GET_RATE,
            "achieved_rate_per_s": round(len(get_latencies) / get_s, 1),
            "statuses": get_statuses,
        },
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _print_table(rows: list[dict[str, Any]]) -> None:
    """The README's Markdown table of the measurements per database."""
    print()
    print(
        "| database | JSON ingest ev/s | file ingest ev/s | detection s (N events) "
        "| 50 disjoint settlements p50/p99 ms (events each) | whole campaign ms (events claimed, posts) "
        "| 50 refused (409) p50/p99 ms | replay p50/p99 ms | GET p50/p99 ms at 200 req/s (achieved) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        disjoint, whole, refused = row["settle"], row["settle_whole"], row["settle_refused"]
        print(
            f"| {row['database']} | {row['ingest']['json']['events_per_s']:,} "
            f"| {row['ingest']['file']['events_per_s']:,} "
            f"| {row['detection']['seconds']:.1f} ({row['detection']['n_events']:,}) "
            f"| {disjoint['p50_ms']:.0f} / {disjoint['p99_ms']:.0f} ({disjoint['events_median']:,.0f}) "
            f"| {whole['ms']:.0f} ({whole['n_events']:,}, {row['settlement_posts']:,}) "
            f"| {refused['p50_ms']:.0f} / {refused['p99_ms']:.0f} "
            f"| {row['replay']['p50_ms']:.1f} / {row['replay']['p99_ms']:.1f} "
            f"| {row['get']['p50_ms']:.1f} / {row['get']['p99_ms']:.1f} "
            f"({row['get']['achieved_rate_per_s']:.0f}/s) |"
        )


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    scale = args.events / 100_000
    sim = simulate(SimConfig(seed=0, scale=scale))
    events = sim.events
    sizes = events.groupby("campaign_id").agg(events=("event_id", "size"), posts=("post_id", "nunique"))
    largest = str(sizes["events"].idxmax())
    big = big_campaign()
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m benchmarks.api", *sys.argv[1:]]),
        "machine": _machine(),
        "simulation": {
            "seed": 0,
            "scale": scale,
            "rows": len(events),
            "distinct_event_ids": int(events["event_id"].nunique()),
            "campaigns": len(sizes),
            "largest_campaign": largest,
            "largest_campaign_events": int(sizes["events"][largest]),
            "largest_campaign_posts": int(sizes["posts"][largest]),
        },
        "settlement_campaign": {
            "campaign_id": BIG_CAMPAIGN,
            "built_from": f"simulate(seed={BIG_SEED}, scale={BIG_SCALE}), every campaign relabelled, "
            f"event ids prefixed 'big-', ts + {BIG_SHIFT.days} days",
            "rows": len(big[0]),
            "distinct_event_ids": int(big[0]["event_id"].nunique()),
            "posts": int(big[0]["post_id"].nunique()),
        },
        "settle_method": SETTLE_METHOD,
        "server": "uvicorn (h11, asyncio loop: uvloop/httptools not installed), one process, no access log",
        "get_method": f"{GET_RATE * GET_SECONDS} GETs of the {BIG_CAMPAIGN} settlement paced at {GET_RATE}/s "
        "over 64 keep-alive connections (a minimal asyncio HTTP/1.1 client: httpx's client CPU, about 5 ms "
        "per 200 kB body, was the bottleneck); each body compared with the first; "
        "sequential baseline with httpx",
        "databases": [],
    }
    for database in args.databases.split(","):
        print(f"benchmarking {database} ...", flush=True)
        results["databases"].append(bench_database(database.strip(), events, sim.campaigns, big))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _print_table(results["databases"])
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
