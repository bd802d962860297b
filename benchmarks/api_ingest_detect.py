"""Ingest and detection of the API benchmark, in process, paired between code trees.

Run: ``.venv/bin/python -m benchmarks.api_ingest_detect --tree base=/work/wt/base8f1 [--tree ...]
[--repeats 3] [--events 10000] [--out FILE] [--profile DIR] [--direct]``.

The first two steps of ``benchmarks.api`` (a random half of the simulated set of seed 0 as
one Parquet upload, the other half as JSON batches of 5,000; then a detection run over the
period) without uvicorn or the settlement campaign: each code tree's app (``create_app`` on
a fresh SQLite home, cold scoring) is driven in a fresh process through FastAPI's
``TestClient``, so the trees see the same bytes and run one after the other, rotating
which goes first, under the same load. A second detection run of the same period follows the
first (the first pays the process's warm-up: lazy imports, first-call caches). Each step's
wall and CPU seconds (the whole process) are recorded; ``--profile`` writes a cProfile of
each step per tree. Results go to ``--out`` (default ``benchmarks/results/api_ingest_detect.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "api_ingest_detect.json"
HERE = Path(__file__).resolve()
STEPS = ("ingest_file", "ingest_json", "detection", "detection_again")
MEASURED = ("startup", *STEPS)


def prepare(inputs: Path, events: int, *, multi_week: bool = False) -> dict[str, Any]:
    """Write the simulated set's campaigns, Parquet half and JSON batches under ``inputs``; with
    ``multi_week`` the world of four weeks, and the detection period its last week (the three
    before it are the service's lookback, ``CPEGUARD_HISTORY_DAYS``)."""
    import pandas as pd

    from benchmarks.api import JSON_BATCH, ingest_halves
    from benchmarks.api_campaigns import PERIOD_END, PERIOD_START, campaign_terms
    from benchmarks.api_settlements import iso
    from serving.io import event_rows
    from training.simulator import SimConfig, simulate

    sim = simulate(SimConfig(seed=0, scale=events / 100_000, multi_week=multi_week))
    file_part, json_part = ingest_halves(sim.events)
    file_part.to_parquet(inputs / "events.parquet", index=False)
    rows = event_rows(json_part)
    bodies = [{"events": rows[i : i + JSON_BATCH]} for i in range(0, len(rows), JSON_BATCH)]
    for i, body in enumerate(bodies):
        (inputs / f"batch{i}.json").write_text(json.dumps(body))
    terms = {c: campaign_terms(sim.campaigns, c) for c in sim.campaigns["campaign_id"]}
    (inputs / "campaigns.json").write_text(json.dumps(terms))
    start, end = PERIOD_START, PERIOD_END
    if multi_week:
        last = sim.events["ts"].max()
        start, end = (last - pd.Timedelta(days=7)).floor("D").to_pydatetime(), last.ceil("D").to_pydatetime()
    period = {"period_start": iso(start), "period_end": iso(end)}
    (inputs / "period.json").write_text(json.dumps(period))
    return {
        "seed": 0,
        "scale": events / 100_000,
        "rows": len(sim.events),
        "file_rows": len(file_part),
        "json_rows": len(json_part),
        "json_batches": len(bodies),
        "multi_week": multi_week,
        "period": period,
    }


def worker(inputs: Path, out: Path, profile: Path | None, *, direct: bool, history_days: int | None) -> None:
    """One tree's measurements (run with that tree first on ``sys.path``); ``direct``: the services
    called in this thread, as the routes call them (so that cProfile sees their work)."""
    import cProfile

    from fastapi.testclient import TestClient

    result: dict[str, Any] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    from serving.app import create_app
    from serving.auth import Role
    from serving.config import ServiceConfig

    with tempfile.TemporaryDirectory(prefix="apiperf-") as tmp:
        lookback: dict[str, Any] = {} if history_days is None else {"history_days": history_days}
        app = create_app(ServiceConfig(home=Path(tmp) / "home", database_url=None, **lookback))
        with TestClient(app) as client:
            # the service's imports and start-up (migrations, models, what it loads ahead)
            result["startup"] = {
                "wall_s": round(time.perf_counter() - wall, 3),
                "cpu_s": round(time.process_time() - cpu, 3),
            }
            key = app.state.services.keys.create(role=Role.BILLING, name="bench")[1]
            billing = {"Authorization": f"Bearer {key}"}
            for campaign, terms in json.loads((inputs / "campaigns.json").read_text()).items():
                client.put(f"/v1/campaigns/{campaign}", json=terms, headers=billing).raise_for_status()
            calls = _direct_calls(app, inputs) if direct else _route_calls(client, billing, inputs)
            for step in STEPS:
                profiler = cProfile.Profile() if profile is not None else None
                wall, cpu = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                answers = calls[step]()
                if profiler is not None and profile is not None:
                    profiler.disable()
                    profiler.dump_stats(str(profile / f"{step}.prof"))
                result[step] = {
                    "wall_s": round(time.perf_counter() - wall, 3),
                    "cpu_s": round(time.process_time() - cpu, 3),
                    **_answered(answers),
                }
    out.write_text(json.dumps(result))


def _route_calls(client: Any, billing: dict[str, str], inputs: Path) -> dict[str, Any]:
    """The steps as requests of the routes (``benchmarks.api``'s, through ``TestClient``)."""
    upload = (inputs / "events.parquet").read_bytes()
    bodies = [p.read_bytes() for p in sorted(inputs.glob("batch*.json"))]
    period = json.loads((inputs / "period.json").read_text())
    as_json = {**billing, "Content-Type": "application/json"}

    def detect() -> list[Any]:
        return [client.post("/v1/detections", json=period, headers=billing)]

    return {
        "ingest_file": lambda: [
            client.post(
                "/v1/events",
                files={"file": ("events.parquet", upload, "application/octet-stream")},
                headers=billing,
            )
        ],
        "ingest_json": lambda: [client.post("/v1/events", content=body, headers=as_json) for body in bodies],
        "detection": detect,
        "detection_again": detect,
    }


def _direct_calls(app: Any, inputs: Path) -> dict[str, Any]:
    """The steps as calls of the ingest and detection services, in this thread, as the routes make them."""
    from datetime import datetime

    from serving.auth import Principal, Role
    from serving.schemas import EventsBatch

    services = app.state.services
    actor = Principal(key_id="bench", name="bench", role=Role.BILLING)
    upload = (inputs / "events.parquet").read_bytes()
    bodies = [p.read_bytes() for p in sorted(inputs.glob("batch*.json"))]
    period = {
        k: datetime.fromisoformat(v) for k, v in json.loads((inputs / "period.json").read_text()).items()
    }

    def detect() -> list[Any]:
        run = services.detection.start(start=period["period_start"], end=period["period_end"], actor=actor)
        return [run.model_dump(mode="json")]

    return {
        "ingest_file": lambda: [
            services.ingest.ingest_file(filename="events.parquet", data=upload, actor=actor).model_dump()
        ],
        "ingest_json": lambda: [
            services.ingest.ingest_rows(
                [e.model_dump() for e in EventsBatch.model_validate_json(body).events], actor=actor
            ).model_dump()
            for body in bodies
        ],
        "detection": detect,
        "detection_again": detect,
    }


def _answered(answers: list[Any]) -> dict[str, Any]:
    """What the step's answers say: accepted events for ingest, the run's state for detection."""
    if isinstance(answers[0], dict):
        bodies = answers
    else:
        for answer in answers:
            answer.raise_for_status()
        bodies = [answer.json() for answer in answers]
    if "accepted" in bodies[0]:
        return {"accepted": sum(int(b["accepted"]) for b in bodies)}
    run = bodies[0]
    if run["status"] != "done":
        raise RuntimeError(f"detection run not done inline: {run}")
    return {"n_events": run["n_events"], "input_hash": run["input_hash"], "summary": run["summary"]}


def run_tree(
    tree: Path, inputs: Path, profile: Path | None, *, direct: bool, history_days: int | None
) -> dict[str, Any]:
    """The worker in a fresh process over ``tree``'s code (same interpreter)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, str(HERE), "--worker", str(inputs), "--worker-out", out.name]
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            command += ["--profile", str(profile)]
        if direct:
            command.append("--direct")
        if history_days is not None:
            command += ["--history-days", str(history_days)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        load = round(os.getloadavg()[0], 2)
        subprocess.run(command, cwd=tree, env=env, check=True)
        return {"load_1min_before": load, **json.loads(Path(out.name).read_text())}


def main() -> None:
    args = _parser().parse_args()
    if args.worker is not None:
        worker(args.worker, args.worker_out, args.profile, direct=args.direct, history_days=args.history_days)
        return
    current = Path(__file__).resolve().parent.parent
    trees = {"current": current}
    for given in args.tree:
        name, _, path = given.partition("=")
        trees[name] = Path(path).resolve()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="apiperf-inputs-") as tmp:
        simulation = prepare(Path(tmp), args.events, multi_week=args.multi_week)
        for repeat in range(args.repeats):
            # each tree first, middle and last in turn
            order = list(trees)[repeat % len(trees) :] + list(trees)[: repeat % len(trees)]
            order = order if repeat % 2 == 0 else order[::-1]
            for name in order:
                profile = args.profile / name if args.profile is not None and repeat == 0 else None
                runs[name].append(
                    run_tree(
                        trees[name], Path(tmp), profile, direct=args.direct, history_days=args.history_days
                    )
                )
                print(name, json.dumps({s: runs[name][-1][s]["wall_s"] for s in MEASURED}), flush=True)
    medians = {name: _medians(r) for name, r in runs.items()}
    results = {
        "command": " ".join([".venv/bin/python -m benchmarks.api_ingest_detect", *sys.argv[1:]]),
        "trees": {name: _describe(tree) for name, tree in trees.items()},
        "simulation": simulation,
        "runs": runs,
        "medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for name, of_tree in medians.items():
        print(name, json.dumps(of_tree))
    print(f"written to {args.out}")


def _parser() -> argparse.ArgumentParser:
    """The command line (and the worker's hidden options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another code tree to measure beside this one (a worktree of another commit); repeatable",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--multi-week", action="store_true", help="a four-week world; detect its last week (with lookback)"
    )
    parser.add_argument(
        "--history-days", type=int, help="the service's lookback (CPEGUARD_HISTORY_DAYS; default: its own)"
    )
    parser.add_argument("--profile", type=Path, help="write each step's cProfile per tree here")
    parser.add_argument(
        "--direct", action="store_true", help="call the ingest and detection services, not the routes"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    return parser


def _describe(tree: Path) -> dict[str, str]:
    commit = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"path": str(tree), "commit": commit}


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    import statistics

    return {
        step: {
            what: round(statistics.median(run[step][what] for run in runs), 3) for what in ("wall_s", "cpu_s")
        }
        for step in MEASURED
    }


if __name__ == "__main__":
    main()
