"""CPU seconds per stage of `cpeguard score` on one window, for two checkouts run by turns.

Usage: python -m benchmarks.stage_cpu --baseline <checkout> [--size 1000000] [--seed 3] [--repeats 2]
                                      [--out benchmarks/results/stage_cpu_NAME.json]

The window is simulated once. Each run is a fresh `cpeguard score` process in one checkout (its
working directory: it imports that checkout's code) with the detectors run one after another
in the calling thread, so that each detector's process CPU (``time.process_time``, which also
counts the threads numpy, pyarrow and sklearn start) is its own; the named stage functions are
wrapped where they are defined and where they were imported by name. A stage a checkout does
not have is absent from its row. Stages nest: ``audiences`` is inside the detector that asks for
them first (``dense_block`` when it runs first), ``account_features`` inside ``anomaly``,
``policy`` and the spreading stages outside the detectors. The two checkouts alternate, the
first swapped every round (``benchmarks.paired``); the table holds each stage's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import paired

RESULTS = Path(__file__).parent / "results"
EVENTS_PER_SCALE = 100_000

# (stage, module, function): a module a checkout lacks is skipped
STAGES = (
    ("io_read", "serving.io", "read_events"),
    ("io_read", "serving.io", "read_posts"),
    ("io_read", "serving.io", "read_campaigns"),
    ("io_write", "serving.io", "write_parquet"),
    ("clean", "features.contract", "clean_events"),
    ("schema_checks", "features.schema", "checked"),
    ("history_dedup", "features.dedup", "distinct_engagements"),
    ("audiences", "detectors.audiences._find", "find_audiences"),
    ("account_features", "features.account_features", "account_features"),
    ("account_features", "features.accounts", "account_features"),
    ("seller_ip_codes", "detectors.seller_ips", "address_codes"),
    ("seller_ip_spread", "detectors.seller_ips", "spread_through_ips"),
    ("post_only_ips", "detectors.post_only_ips", "raise_post_only_ips"),
    ("spread_focus", "detectors.rules", "spread_to_accounts"),
    ("spread_focus", "detectors.rules", "weight_by_focus"),
    ("spread_focus", "detectors.scorer.detections", "_finished"),
    ("combine", "detectors.combine", "combine"),
    ("policy", "detectors.policy", "unit_prices"),
    ("policy", "detectors.policy", "decide_posts"),
    ("policy", "detectors.policy", "held_engagements"),
    ("policy", "detectors.policy", "flag_accounts"),
)

_CHILD = """
import functools, importlib, json, sys, time
from collections import defaultdict
stages = json.loads(sys.argv[1])
spent, inside = defaultdict(float), defaultdict(int)
import cpeguard.cli, serving.batch, detectors.parallel as par
for name in {m for _, m, _ in stages} | {"detectors.scorer.running", "detectors.scorer", "detectors.context"}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
def timed(label, fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        if inside[label]:
            return fn(*a, **k)
        inside[label] += 1
        begun = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            spent[label] += time.process_time() - begun
            inside[label] -= 1
    return wrapper
swap = {}
for label, name, attr in stages:
    module = sys.modules.get(name)
    if module is not None and hasattr(module, attr):
        original = getattr(module, attr)
        swap[id(original)] = (original, timed(label, original))
for module in list(sys.modules.values()):
    if getattr(module, "__name__", "").split(".")[0] not in ("serving", "features", "detectors", "cpeguard"):
        continue
    for key, value in list(vars(module).items()):
        if id(value) in swap and swap[id(value)][0] is value:
            setattr(module, key, swap[id(value)][1])
def serial(tasks, window, *, workers, progress=None):
    out = []
    for name, task in tasks:
        begun = time.process_time()
        out.append(task(window))
        spent["detector:" + name] += time.process_time() - begun
    return out
for module in list(sys.modules.values()):
    if module is not par and getattr(module, "run_detectors", None) is par.run_detectors:
        module.run_detectors = serial
begun = time.process_time()
cpeguard.cli.app(sys.argv[2:], standalone_mode=False)
spent["total"] = time.process_time() - begun
print("STAGES " + json.dumps(spent), file=sys.stderr)
"""


def _stage_run(sim: Path, out: Path, code: Path) -> dict[str, float]:
    """One `cpeguard score` of ``sim`` in checkout ``code``: CPU seconds per stage."""
    args = ["score", *(f"--{t}={sim / (t + '.parquet')}" for t in ("events", "posts", "campaigns"))]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(STAGES), *args, f"--out={out}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("STAGES "))
    return {k: float(v) for k, v in json.loads(line[len("STAGES ") :]).items()}


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({k for r in runs for k in r})
    return {k: round(statistics.median(r.get(k, 0.0) for r in runs), 3) for k in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the other checkout")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "stage_cpu.json"))
    args = parser.parse_args()
    from training.simulator import SimConfig, simulate, write_simulated_set

    trees = {paired.LABELS[0]: Path.cwd(), paired.LABELS[1]: Path(args.baseline)}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        write_simulated_set(simulate(SimConfig(seed=args.seed, scale=args.size / EVENTS_PER_SCALE)), sim)
        for i in range(args.repeats):
            for label in paired.round_order(i):
                runs[label].append(_stage_run(sim, Path(tmp) / f"out{i}{label}", trees[label]))
                print(f"round {i} {label}: {runs[label][-1]['total']:.2f} CPU s", flush=True)
    medians = {label: _medians(r) for label, r in runs.items()}
    report = {
        "command": "python -m benchmarks.stage_cpu " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "commits": {label: paired.commit(tree) for label, tree in trees.items()},
        "medians": medians,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    this, base = medians[paired.LABELS[0]], medians[paired.LABELS[1]]
    for stage in sorted(set(this) | set(base)):
        print(f"{stage:24s} {this.get(stage, 0.0):7.3f} {base.get(stage, 0.0):7.3f}")


if __name__ == "__main__":
    main()
