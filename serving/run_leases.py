"""Which process executes a detection run, and its lease: several service processes over one home.

Each process names itself once (``owner``: host, pid and a start token, so a reused pid is another
owner). A run it creates carries that name and a lease until ``now + lease_s``; while the process
executes the run, a background thread renews the lease every ``heartbeat_s``. Another process marks
a queued or running run failed only once its lease has expired (its owner is gone: killed, or cut
from the database for longer than the lease); the owner itself marks failed at once the runs it
created and no longer executes (a database outage kept them from recording their end).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from serving.db.database import utcnow
from serving.db.runs import RunRepository


def process_owner() -> str:
    """This process's name on the runs it executes: host, pid and a token of this start."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class RunLeases:
    """The runs this process executes, and the thread that keeps their leases alive."""

    def __init__(self, runs: RunRepository, *, heartbeat_s: float, lease_s: float) -> None:
        if not 0 < 2 * heartbeat_s <= lease_s:
            raise ValueError(
                f"a run's lease ({lease_s} s) must last at least two heartbeats ({heartbeat_s} s each)"
            )
        self.runs = runs
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.owner = process_owner()
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._beating: threading.Thread | None = None

    def until(self, now: datetime | None = None) -> datetime:
        """When a lease taken or renewed now expires."""
        return (now or utcnow()) + timedelta(seconds=self.lease_s)

    def hold(self, run_id: str) -> None:
        """Keep the run's lease alive from now on (call before its row exists, so that no other
        thread of this process finds it stale)."""
        with self._lock:
            self._held.add(run_id)
            if self._beating is None:
                self._beating = threading.Thread(target=self._beat, name="run-leases", daemon=True)
                self._beating.start()

    def release(self, run_id: str) -> None:
        """The run ended here (done, failed, or its end could not be recorded): stop renewing it."""
        with self._lock:
            self._held.discard(run_id)

    def held(self) -> set[str]:
        """The runs this process executes now."""
        with self._lock:
            return set(self._held)

    def _beat(self) -> None:
        """Renew the held runs' leases every heartbeat; ends when none is held (``hold`` starts it
        again). A failed renewal is logged and tried again at the next beat."""
        while True:
            time.sleep(self.heartbeat_s)
            with self._lock:
                held = set(self._held)
                if not held:
                    self._beating = None
                    return
            try:
                self.runs.renew_leases(held, owner=self.owner, until=self.until())
            except Exception:
                logging.getLogger(__name__).warning("leases of detection runs not renewed", exc_info=True)
