"""Review queue benchmark: 10,000 open cases, the first queue page and a case page, SQLite and PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.review_queue [--databases sqlite,postgresql] [--cases 10000]``.

For each database a fresh home (PostgreSQL: a fresh database, dropped afterwards) gets one
simulated campaign set (seed 0, ``--scale``) registered, ingested and settled through the API
(in-process, FastAPI's test client), the cases that opens, and then synthetic open post cases on
that settlement until ``--cases`` cases are open (their posts have no verdicts: their pages are
not timed). Timed, through the app in-process (no network), signed in as a reviewer:

1. ``GET /review/queue`` (review order, first page of 50, with its count and money totals);
2. ``GET /review/queue?sort=money&desc=true&page=100`` (a column sort, a deep page);
3. ``GET /review/cases/{id}`` of the real post case with the most money, of the largest
   creator case and of the largest group case (their evidence read from the run's verdicts,
   cached after the first view).

Every case has its money per post (``review_case_posts``): the queue's total counts each post's
money once, summed in SQL over them.

Each is requested ``--repeats`` times after one warm-up; median and p95 in milliseconds go to
``benchmarks/results/review_queue.json``. The machine is shared (2 cores): load averages recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from benchmarks.live_server import postgres_database
from cpeguard.demo import fill_demo_home
from serving.config import ServiceConfig
from serving.db.models import ReviewCase, ReviewCasePost

RESULTS = Path(__file__).resolve().parent / "results" / "review_queue.json"


@contextmanager
def _database(kind: str) -> Iterator[str | None]:
    """No URL for SQLite (the service's own file); a fresh PostgreSQL database otherwise."""
    if kind == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


def _fill_cases(client: Any, n_cases: int) -> int:
    """Synthetic open post cases on the first settlement until ``n_cases`` cases are open; how many added."""
    services = client.app.state.services
    review = client.app.state.review
    review.cases.sync()
    open_now = review.cases.queue_page(_open(), now=datetime.now(UTC), per_page=1).total
    settlement = services.db.settlements.latest_lines(limit=1)[0]
    missing = max(n_cases - open_now, 0)
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"case_bench{i:011d}",
            "settlement_id": settlement.id,
            "post_id": f"bench_post_{i}",
            "kind": "post",
            "campaign_id": settlement.campaign_id,
            "platform": "douyin",
            "creator_id": f"bench_creator_{i % 500}",
            "held_amount": Decimal(str(round(float(rng.lognormal(1.0, 1.2)), 2))),
            "reasons": ";ip_farm;",
            "needs_signoff": False,
            "cutoff_at": now + timedelta(days=int(rng.integers(0, 10))),
            "status": "open",
            "created_at": now,
            "is_sample": False,
        }
        for i in range(missing)
    ]
    parts = [  # each synthetic case's money on its post, as opening a case records it
        {
            "case_id": row["id"],
            "post_id": row["post_id"],
            "settlement_id": row["settlement_id"],
            "kind": "post",
            "held": row["held_amount"],
            "withheld": Decimal("0.00"),
            "line_held": row["held_amount"],
            "line_withheld": Decimal("0.00"),
        }
        for row in rows
    ]
    with services.db.cases.session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(ReviewCase), rows[start : start + 5000])
            session.execute(insert(ReviewCasePost), parts[start : start + 5000])
    return missing


def _open() -> Any:
    from serving.review.cases import QueueFilter

    return QueueFilter()


def _time(client: Any, url: str, repeats: int) -> dict[str, float]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return {
        "median_ms": round(float(np.median(times)), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
    }


def run_one(kind: str, *, n_cases: int, scale: float, repeats: int, root: Path) -> dict[str, Any]:
    """Fill one database and time the pages."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.auth import Role

    with _database(kind) as url:
        config = ServiceConfig(home=root / kind, database_url=url)
        made = fill_demo_home(config, seed=0, scale=scale)
        load_before = os.getloadavg()
        with TestClient(create_app(config)) as client:
            added = _fill_cases(client, n_cases)
            keys = client.app.state.services.keys  # type: ignore[attr-defined]
            secret = keys.create(role=Role.REVIEWER, name="bench reviewer")[1]
            form = client.get("/review/sign-in").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            client.post("/review/sign-in", data={"api_key": secret, "csrf_token": token.group(1)})
            queue = client.get("/review/queue?kind=post").text
            post_case = re.findall(r'data-case-id="([^"]+)"', queue)[0]
            creator = re.findall(r'data-case-id="([^"]+)"', client.get("/review/queue?kind=creator").text)[0]
            group = re.findall(r'data-case-id="([^"]+)"', client.get("/review/queue?kind=group").text)[0]
            total = re.search(r'id="queue-totals"><strong>(\d+)</strong>', client.get("/review/queue").text)
            assert total is not None
            timings = {
                "queue_first_page": _time(client, "/review/queue", repeats),
                "queue_sorted_page_100": _time(
                    client, "/review/queue?sort=money&desc=true&page=100", repeats
                ),
                "post_case_page": _time(client, f"/review/cases/{post_case}", repeats),
                "creator_case_page": _time(client, f"/review/cases/{creator}", repeats),
                "group_case_page": _time(client, f"/review/cases/{group}", repeats),
            }
        return {
            "database": kind,
            "open_cases": int(total.group(1)),
            "synthetic_cases": added,
            "events": made.n_events,
            "timings": timings,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }


def main() -> None:
    """Run the benchmark on each database and write the results file."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="cpg-review-bench-") as root:
        for kind in args.databases.split(","):
            runs.append(
                run_one(kind, n_cases=args.cases, scale=args.scale, repeats=args.repeats, root=Path(root))
            )
    result = {
        "command": "python -m benchmarks.review_queue "
        f"--databases {args.databases} --cases {args.cases} --scale {args.scale} --repeats {args.repeats}",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| database | open cases | page | median ms | p95 ms |")
    print("| --- | --- | --- | --- | --- |")
    for run in runs:
        for page, timing in run["timings"].items():
            print(
                f"| {run['database']} | {run['open_cases']} | {page} "
                f"| {timing['median_ms']} | {timing['p95_ms']} |"
            )


if __name__ == "__main__":
    main()
