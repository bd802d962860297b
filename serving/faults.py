"""Named fault points for the fault-injection tests: the process dies (or stalls) exactly there.

Armed once at start-up from ``ServiceConfig.fault`` (``CPEGUARD_FAULT``); unarmed, a point
costs one comparison. ``"ingest_after_stage"`` makes the process exit with status 137 (as
``kill -9`` would, no clean-up of any kind) when it reaches that point;
``"detection_scored:3"`` makes it sleep 3 seconds there instead (a window in which a test
takes the database away).
"""

from __future__ import annotations

import os
import time

FAULT_POINTS: dict[str, str] = {
    "ingest_after_stage": "files staged, database transaction not yet committed",
    "ingest_after_commit": "batch committed, staged files not yet published",
    "ingest_mid_publish": "the first staged file published, the others not",
    "detection_scored": "a run scored and its verdicts written, not yet marked done",
    "settlement_before_commit": "a settlement's lines and ledger written, transaction not committed",
    "adjustment_before_commit": "a reviewer's release or clawback written, transaction not committed",
    "review_before_decision": "a console decision's money moved, its decision row and labels not yet written",
}
KILLED_STATUS = 137  # what a shell reports for a process ended by SIGKILL

_armed: dict[str, float | None] = {}


def arm(spec: str | None) -> None:
    """Arm the point named by ``spec`` (``name`` to exit, ``name:seconds`` to stall); None disarms."""
    _armed.clear()
    if not spec:
        return
    name, _, stall = spec.partition(":")
    if name not in FAULT_POINTS:
        raise ValueError(f"CPEGUARD_FAULT: unknown fault point {name!r}; known: {', '.join(FAULT_POINTS)}")
    try:
        _armed[name] = float(stall) if stall else None
    except ValueError:
        raise ValueError(f"CPEGUARD_FAULT: {spec!r}: after ':' give the seconds to stall") from None


def point(name: str) -> None:
    """Reach the fault point ``name``: nothing unless it is armed."""
    assert name in FAULT_POINTS, name
    if name not in _armed:
        return
    stall = _armed[name]
    if stall is None:
        os._exit(KILLED_STATUS)
    time.sleep(stall)
