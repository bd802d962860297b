"""What history costs: seconds and peak memory of scoring a window alone, with history, and with
history prepared by an earlier run.

Run through ``python -m benchmarks.history --cost`` (see there). Each timed scoring is a fresh
process (``python -m benchmarks.history_cost --child MODE --data FILE``) that reads the simulated
window and history from a temporary pickle, scores 20k events untimed (imports), then times one
scoring and reports its wall and CPU seconds and its peak RSS (``VmHWM``, reset after the inputs
are read, so the peak counts the inputs held and everything scoring adds). As
``serving.batch.run_batch``, the raw window and history are let go once joined (the reduced
engagements are what is scored), and a mode holds only the inputs it reads:

- ``alone``: ``score_window(current)``;
- ``with history``: ``score_window(current, history=history)`` with ``history__mode`` "exact": every
  history engagement joins the window (``detectors.history``);
- ``with prepared history`` (``--prepared``): ``score_window(current, history=prepared)`` where
  ``prepared = prepare_scored_history(history)`` (the history reduced, scored, its evidence marked;
  ``detectors.lookback``) was made before the clock starts, as a run that keeps it from the previous
  run finds it (its seconds are reported apart, ``prepare_s``); the window reads the history as
  ``history__mode`` says (default "condensed": the evidence, the last day, re-counts). The raw
  history is dropped before timing;
- ``with history state`` (``--state``): what ``cpeguard score --history FILE --history-state DIR``
  does when an earlier run kept the state (``serving.history_state``): the state is built untimed
  by a process of its own, then the clock times reading it back (the history file's digest, the
  kept frame checked against its digest) and scoring with it, under each ``--state-variant``'s
  knobs (default: "exact" and "condensed"). ``state_read_s`` is the reading's share. The raw
  history is not held while timing: a run that reads a state never reads it.

``--skip-joined`` leaves out ``with history`` (the slowest mode). ``--baseline CHECKOUT`` times another
checkout on the same inputs in the same invocation (as ``python -m benchmarks.run --baseline``, through
``benchmarks.paired``): each round times every mode once per checkout, back to back, the one that starts
swapped every round; each checkout's children run its own code and read a state its own code built (in
a folder of its own). The report keeps this checkout's runs and summary where they were, and adds
``baseline_runs``, ``baseline_summary``, ``state_build_s`` and ``paired``: per mode, every round's
wall and CPU seconds of both, the round's ratio this / baseline, their median and the medians' ratio.
The baseline must have this module's child (``--child MODE --data FILE --knobs JSON [--build-only]``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import detectors
from benchmarks import paired
from benchmarks.windows import parse_variant
from detectors.lookback import EVIDENCE_COLUMN, condensed
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from detectors.scorer import (
    history_engagements,
    prepare_scored_history,
    prepared_history,
    score_engagements,
    score_window,
)
from features.contract import clean_events, empty_rejects
from serving.history_state import PreparedHistory, files_key, load_or_build
from training.simulator import SimConfig, simulate

MODES = ("alone", "with history", "with prepared history", "with history state")
# the prepared mode's variant when none is named: the condensed history's default knobs
DEFAULT_VARIANT = "condensed"
# the state mode's variants when none is named: the history kept whole, and condensed
STATE_VARIANTS = ('exact:history__mode="exact"', 'condensed:history__mode="condensed"')
WARM_UP_EVENTS = 20_000
# the state mode's history, as a file an operator would pass to ``--history``
HISTORY_FILE = "history.parquet"


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m benchmarks.history``'s ``--cost`` options (read by ``cost``)."""
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--current", type=int, default=1_000_000)
    parser.add_argument("--history-factor", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--stages", action="store_true", help="with --cost: also seconds per detector, run one after another"
    )
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="with --cost: also time scoring with the history prepared by an earlier run (prepare untimed)",
    )
    parser.add_argument(
        "--prepared-variant",
        action="append",
        help='with --cost --prepared: "label:name=value;..." knobs of a prepared (condensed) run; repeatable',
    )
    parser.add_argument(
        "--state",
        action="store_true",
        help="with --cost: also time reading a history state an earlier run kept, and scoring with it",
    )
    parser.add_argument(
        "--state-variant",
        action="append",
        help='with --cost --state: "label:name=value;..." knobs of a state run; repeatable (default: '
        "exact and condensed)",
    )
    parser.add_argument(
        "--skip-joined",
        action="store_true",
        help="with --cost: leave out scoring with the history joined whole",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="with --cost: another checkout timed on the same inputs, alternated with this one run by run",
    )


def cost(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds and peak RSS of scoring ``current`` alone and with ``history_factor`` x as much history;
    with ``args.baseline`` (another checkout) the two alternated run by run (``benchmarks.paired``)."""
    n_current = args.current
    n_total = n_current * (1 + args.history_factor)
    sim = simulate(SimConfig(seed=3, scale=n_total / 100_000 * 1.1))
    events = clean_events(sim.events, source="cost world").frame.sort_values("ts", ignore_index=True)
    events = events.iloc[-n_total:]
    history, current = events.iloc[: n_total - n_current], events.iloc[n_total - n_current :]
    variants = _variants(args)
    modes = [
        *(MODES[:1] if getattr(args, "skip_joined", False) else MODES[:2]),
        *(mode for mode in variants if mode.startswith(MODES[2]) or mode.startswith(MODES[3])),
    ]
    sizes = {"n_current_events": len(current), "n_history_events": len(history)}
    reach = history_reach(current, history)
    codes = _codes(args)
    with tempfile.TemporaryDirectory() as tmp:
        folders = _inputs(Path(tmp), list(codes), (current, history, sim.posts, sim.campaigns), args)
        if not args.stages:
            # the children's peaks are measured alone: this process lets the world go
            del events, current, history, sim
            gc.collect()
        runs, built = _timed(folders, codes, modes, variants, repeats=args.repeats)
    report = {
        "command": _command(args),
        **sizes,
        "runs": runs[paired.LABELS[0]],
        "history_reach": reach,
        **_summary(runs[paired.LABELS[0]]),
    }
    if len(codes) > 1:
        report.update(_compared(runs, built, codes))
    if args.stages:
        params = ScoringParams().set_params(history__mode="condensed")
        kwargs = {"posts": sim.posts, "campaigns": sim.campaigns}
        prepared = prepare_scored_history(history, params=params, **kwargs) if args.prepared else None
        report["stage_seconds"] = {
            "alone": stage_seconds(current, None, sim),
            "with history": stage_seconds(current, history, sim),
            **({"with prepared history": stage_seconds(current, prepared, sim)} if args.prepared else {}),
        }
    return report


def _codes(args: argparse.Namespace) -> dict[str, Path]:
    """The checkouts timed, by label: this one, and ``args.baseline`` when given."""
    base = getattr(args, "baseline", None)
    this = {paired.LABELS[0]: Path(__file__).resolve().parent.parent}
    return this if base is None else {**this, paired.LABELS[1]: Path(base).resolve()}


def _inputs(tmp: Path, labels: list[str], data: tuple[Any, ...], args: argparse.Namespace) -> dict[str, Path]:
    """Each checkout's folder with the pickled window (and, for ``--state``, the history file) in it:
    the same inputs, linked, and a state of its own that its own code builds next to them."""
    folders = {label: tmp / label for label in labels}
    first = folders[labels[0]]
    for folder in folders.values():
        folder.mkdir()
    (first / "window.pickle").write_bytes(pickle.dumps(data))
    if getattr(args, "state", False):
        data[1].to_parquet(first / HISTORY_FILE, index=False)
    for folder in list(folders.values())[1:]:
        for name in ("window.pickle", *([HISTORY_FILE] if getattr(args, "state", False) else [])):
            os.link(first / name, folder / name)
    return folders


def _timed(
    folders: dict[str, Path],
    codes: dict[str, Path],
    modes: list[str],
    variants: dict[str, dict[str, Any]],
    *,
    repeats: int,
) -> tuple[dict[str, dict[str, list[dict[str, float]]]], dict[str, dict[str, float]]]:
    """Every checkout's runs by mode, and the seconds each took to build its states. A round times each
    mode once per checkout, the checkouts back to back, the first swapped every round."""
    built: dict[str, dict[str, float]] = {label: {} for label in folders}
    for label, folder in folders.items():
        for mode in modes:
            if mode.startswith(MODES[3]):
                # the state is built by a process of its own, as an earlier run keeps it: a timed child
                # that built it would count what building it left resident in its peak
                done = _child_run(
                    MODES[3], folder / "window.pickle", variants[mode], build_only=True, code=codes[label]
                )
                built[label][mode] = done["prepare_s"]
    runs: dict[str, dict[str, list[dict[str, float]]]] = {label: {m: [] for m in modes} for label in folders}
    for i in range(repeats):
        for mode in modes:
            for label in (x for x in paired.round_order(i) if x in folders):
                data = folders[label] / "window.pickle"
                runs[label][mode].append(
                    _child_run(mode.partition(" (")[0], data, variants.get(mode, {}), code=codes[label])
                )
                print(f"{label} {mode}: {json.dumps(runs[label][mode][-1])}", flush=True)
    return runs, built


def _compared(
    runs: dict[str, dict[str, list[dict[str, float]]]],
    built: dict[str, dict[str, float]],
    codes: dict[str, Path],
) -> dict[str, Any]:
    """The baseline's runs and summary, and every mode's paired ratios this / baseline."""
    this, base = paired.LABELS
    return {
        "this_commit": paired.commit(codes[this]),
        "baseline_commit": paired.commit(codes[base]),
        "baseline_runs": runs[base],
        "baseline_summary": _summary(runs[base]),
        "state_build_s": built,
        "paired": {
            mode: paired.paired({this: runs[this][mode], base: runs[base][mode]}) for mode in runs[this]
        },
    }


def _command(args: argparse.Namespace) -> str:
    """The command line that made the report (a baseline named by its commit)."""
    base = getattr(args, "baseline", None)
    return (
        f"python -m benchmarks.history --cost --current {args.current} "
        f"--history-factor {args.history_factor} --repeats {args.repeats}"
        + (" --prepared" if args.prepared else "")
        + "".join(f" --prepared-variant '{text}'" for text in args.prepared_variant or [])
        + (" --state" if getattr(args, "state", False) else "")
        + "".join(f" --state-variant '{text}'" for text in getattr(args, "state_variant", None) or [])
        + (" --skip-joined" if getattr(args, "skip_joined", False) else "")
        + (" --stages" if args.stages else "")
        + (f" --baseline <checkout of {paired.commit(Path(base))}>" if base is not None else "")
    )


def _variants(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The knobs of each prepared and state mode the run times, by the mode's name."""
    out: dict[str, dict[str, Any]] = {}
    if args.prepared:
        for text in args.prepared_variant or [f"{DEFAULT_VARIANT}:"]:
            label, knobs = parse_variant(text)
            out[f"{MODES[2]} ({label})"] = knobs
    if getattr(args, "state", False):
        for text in getattr(args, "state_variant", None) or STATE_VARIANTS:
            label, knobs = parse_variant(text)
            out[f"{MODES[3]} ({label})"] = knobs
    return out


def _summary(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Best and median wall and CPU seconds per mode, peak RSS, and each mode's ratios to ``alone``
    (of the bests, ``ratio_*``, and of the medians, ``ratio_median_*``)."""
    out: dict[str, Any] = {"best_wall_s": {}, "best_cpu_s": {}, "peak_rss_gib": {}}
    for mode, done in runs.items():
        out["best_wall_s"][mode] = min(r["wall_s"] for r in done)
        out["best_cpu_s"][mode] = min(r["cpu_s"] for r in done)
        out["peak_rss_gib"][mode] = max(r["peak_rss_gib"] for r in done)
    for key in ("wall", "cpu"):
        out[f"median_{key}_s"] = {
            mode: float(np.median([r[f"{key}_s"] for r in done])) for mode, done in runs.items()
        }
        best, median = out[f"best_{key}_s"], out[f"median_{key}_s"]
        out[f"ratio_{key}"] = {mode: best[mode] / best["alone"] for mode in runs if mode != "alone"}
        out[f"ratio_median_{key}"] = {
            mode: median[mode] / median["alone"] for mode in runs if mode != "alone"
        }
    return out


def _child_run(
    mode: str, data: Path, knobs: dict[str, Any], *, code: Path, build_only: bool = False
) -> dict[str, float]:
    """One timed scoring in a fresh process running checkout ``code``'s code (its last stdout line is the
    measurement); ``build_only``: the state mode's child builds the state and scores nothing."""
    command = [sys.executable, "-m", "benchmarks.history_cost", "--child", mode, "--data", str(data)]
    done = subprocess.run(
        [*command, "--knobs", json.dumps(knobs), *(["--build-only"] if build_only else [])],
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    measured = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    # a child of this module says whose code it ran (an older checkout's child does not)
    ran = measured.pop("code", None)
    if ran is not None and Path(ran).resolve() != code.resolve():
        raise RuntimeError(f"a child meant to run {code}'s code ran {ran}'s")
    return measured


def child(
    mode: str, data: Path, knobs: dict[str, Any] | None = None, *, build_only: bool = False
) -> dict[str, float]:
    """Score the pickled window once in ``mode``; wall, CPU seconds and peak RSS of that scoring.
    ``knobs``: ``ScoringParams`` knobs of the prepared mode (it reads the history condensed)."""
    params = ScoringParams()
    if mode in MODES[2:]:
        params = params.set_params(**{"history__mode": "condensed", **(knobs or {})})
    if mode == MODES[3]:
        # the state child reads the pickle itself: a name held here would keep the raw history alive
        # through the timed scoring, which a run reading a state never reads
        return _state_child(data, params=params, build_only=build_only)
    current, history, posts, campaigns = pickle.loads(data.read_bytes())
    if mode == MODES[0]:
        # alone reads no history: held, it would count in alone's peak
        history = None
    score_window(current.iloc[:WARM_UP_EVENTS], posts=posts, campaigns=campaigns, params=params)
    started = time.perf_counter()
    prepared = None
    if mode == "with prepared history":
        prepared = prepare_scored_history(history, params=params, posts=posts, campaigns=campaigns)
    prepare_s = time.perf_counter() - started
    # the share of the history's engagements the window reads (``detectors.lookback.condensed``)
    kept = (
        1.0 if prepared is None else len(condensed(prepared, current, params=params.history)) / len(prepared)
    )
    if prepared is not None:
        history = None
    gc.collect()
    _reset_peak_rss()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    # as ``serving.batch.run_batch``: the raw window and history are let go once joined
    past, scoring = (
        (prepared, params) if prepared is not None else (history, params.set_params(history__mode="exact"))
    )
    engagements = history_engagements(current, past, params=scoring, posts=posts, campaigns=campaigns)
    del current, history, prepared, past
    score_engagements(engagements, params=scoring, posts=posts, campaigns=campaigns)
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_gib": _peak_rss_kib() / 2**20,
        "prepare_s": prepare_s,
        "history_kept_share": kept,
        "load_1m": load,
    }


def _state_child(data: Path, *, params: ScoringParams, build_only: bool = False) -> dict[str, float]:
    """``child`` of the state mode: the state built (or found) untimed, then read back and scored with,
    as ``serving.batch.run_batch`` does: neither the raw history nor, once joined, the raw window is
    held while scoring."""
    current, history, posts, campaigns = pickle.loads(data.read_bytes())
    folder = data.parent
    scorer = WindowScorer(params=params)
    key = files_key([folder / HISTORY_FILE], scorer, posts_path=None)
    where = folder / f"state-{key.mode}-{key.rules}"
    score_window(current.iloc[:WARM_UP_EVENTS], posts=posts, campaigns=campaigns, params=params)
    started = time.perf_counter()
    built = load_or_build(where, key, functools.partial(_prepared, history, params=params, posts=posts))
    prepare_s = time.perf_counter() - started
    if build_only:
        return {"prepare_s": prepare_s}
    n_kept, n_history = _kept(built.prepared.frame, current, params=params), len(built.prepared.frame)
    del history, built
    gc.collect()
    _reset_peak_rss()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    state = load_or_build(where, key, _never_built)
    read_s = time.perf_counter() - started
    # as ``serving.batch.run_batch``: the kept history and the raw window are let go once joined
    engagements = history_engagements(
        current, state.prepared.frame, params=params, posts=posts, campaigns=campaigns
    )
    del state, current
    score_engagements(engagements, params=params, posts=posts, campaigns=campaigns)
    out = {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_gib": _peak_rss_kib() / 2**20,
        "prepare_s": prepare_s,
        "state_read_s": read_s,
    }
    return {**out, "history_kept_share": n_kept / n_history, "load_1m": load}


def _kept(prepared: pd.DataFrame, current: pd.DataFrame, *, params: ScoringParams) -> int:
    """How many history engagements the window reads (``detectors.lookback.condensed``; all when exact)."""
    return len(condensed(prepared, current, params=params.history))


def _prepared(history: pd.DataFrame, *, params: ScoringParams, posts: pd.DataFrame) -> PreparedHistory:
    frame = prepared_history(history, params=params, posts=posts)
    return PreparedHistory(frame, empty_rejects(), n_events=len(history), first_ts=history["ts"].min())


def _never_built() -> PreparedHistory:
    raise RuntimeError("the history state was built before the clock; reading it must not rebuild it")


def _reset_peak_rss() -> None:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_kib() -> float:
    status = Path("/proc/self/status").read_text().split("VmHWM:")
    return (
        float(status[1].split()[0]) if len(status) > 1 else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )


def history_reach(current: pd.DataFrame, history: pd.DataFrame) -> dict[str, float]:
    """Shares of the history events a cut around the window would keep: the window's accounts' own,
    and those plus every event on a post the window's accounts engaged (in the window or before)."""
    accounts = history["user_id"].isin(current["user_id"].unique()).to_numpy()
    posts = pd.concat([current["post_id"], history.loc[accounts, "post_id"]]).unique()
    on_their_posts = accounts | history["post_id"].isin(posts).to_numpy()
    return {
        "window_accounts": float(accounts.mean()),
        "window_accounts_and_posts": float(on_their_posts.mean()),
    }


def stage_seconds(current: pd.DataFrame, history: pd.DataFrame | None, sim: Any) -> dict[str, float]:
    """Seconds per stage of one scoring with the detectors run one after another (``runtime__workers=1``):
    ``prepare`` (the union with history, contexts), each detector (until the next starts; the last
    also spreads every group to its accounts), ``decide`` (verdicts, the window's rows, evidence).
    A ``history`` that ``prepare_scored_history`` made (it has the evidence mark) is read as ``history__mode``
    says (default "condensed"); raw history is joined whole (``history__mode`` "exact")."""
    marks: list[tuple[str, float]] = [("prepare", time.perf_counter())]
    kwargs: dict[str, Any] = {
        "posts": sim.posts,
        "campaigns": sim.campaigns,
        "params": ScoringParams().set_params(runtime__workers=1, history__mode="exact"),
        "progress": lambda name: marks.append((name, time.perf_counter())),
    }
    is_prepared = history is not None and EVIDENCE_COLUMN in history
    if is_prepared:
        kwargs["params"] = kwargs["params"].set_params(history__mode="condensed")
    score_window(current, history=history, **kwargs)
    marks.append(("end", time.perf_counter()))
    seconds = {name: round(marks[i + 1][1] - at, 3) for i, (name, at) in enumerate(marks[:-1])}
    label = MODES[0 if history is None else 2 if is_prepared else 1]
    print(f"stages {label}: {json.dumps(seconds)}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="one timed scoring of benchmarks.history --cost")
    parser.add_argument("--child", choices=MODES, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--knobs", default="{}", help="JSON: ScoringParams knobs of the prepared mode")
    parser.add_argument("--build-only", action="store_true", help="state mode: build the state, time nothing")
    args = parser.parse_args()
    measured = child(args.child, args.data, json.loads(args.knobs), build_only=args.build_only)
    # the checkout whose detectors scored (``_child_run`` checks it is the one meant)
    code = str(Path(detectors.__file__ or "").resolve().parents[1])
    print(json.dumps({**measured, "code": code}), flush=True)


if __name__ == "__main__":
    main()
