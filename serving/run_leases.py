"""Which process executes a detection run or a background settlement, and its lease: several service
processes over one home.

Each process names itself once (``owner``: host, pid and a start token, so a reused pid is another
owner). A run or background settlement it creates carries that name and a lease until
``now + lease_s``; while the process executes it, one background thread renews the leases of both
every ``heartbeat_s``. Another process marks a queued or running one failed only once its owner is
gone: its lease expired (killed, or cut from
the database for longer than the lease), or it ran on the same node (host, boot, pid namespace)
and its pid no longer exists (a restart after a crash need not wait for the lease). The owner
itself marks failed at once the runs it created and no longer executes (a database outage kept
them from recording their end).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from serving.db.database import as_utc, utcnow


class Leased(Protocol):
    """A row executed under a lease: a detection run or a background settlement."""

    @property
    def id(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def lease_until(self) -> datetime | None: ...


class Renewing(Protocol):
    """The repository of leased rows: extends the owner's unfinished rows' leases."""

    def renew_leases(self, ids: Collection[str], /, *, owner: str, until: datetime) -> None: ...


def _node() -> str:
    """This host and pid namespace: the host name, and a digest of the kernel's boot id and the pid
    namespace (containers may share a host name; a pid means something only inside its namespace)."""
    parts = []
    for path, read in (("/proc/sys/kernel/random/boot_id", Path.read_text), ("/proc/self/ns/pid", _link)):
        try:
            parts.append(read(Path(path)).strip())
        except OSError:
            return socket.gethostname()[:100]  # no /proc: the lease alone tells
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    return f"{socket.gethostname()[:100]}@{digest}"


def _link(path: Path) -> str:
    return str(path.readlink())


def process_owner() -> str:
    """This process's name on the runs it executes: node, pid and a token of this start."""
    return f"{_node()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_gone(owner: str, *, me: str) -> bool:
    """Whether ``owner`` was a process on this node (host, boot, pid namespace) that has exited: its
    runs need not wait for their leases. Unknown (another node, or its pid in use): False."""
    theirs, mine = owner.rsplit(":", 2), me.rsplit(":", 2)
    if len(theirs) != 3 or "@" not in theirs[0] or theirs[0] != mine[0] or not theirs[1].isdigit():
        return False
    pid = int(theirs[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's)
        return False
    return False


class RunLeases:
    """The runs and background settlements this process executes, and the one thread that keeps
    their leases alive."""

    def __init__(self, runs: Renewing, *, heartbeat_s: float, lease_s: float) -> None:
        if not 0 < 2 * heartbeat_s <= lease_s:
            raise ValueError(
                f"a run's lease ({lease_s} s) must last at least two heartbeats ({heartbeat_s} s each)"
            )
        self.runs = runs
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.owner = process_owner()
        self._lock = threading.Lock()
        self._held: dict[str, Renewing] = {}  # each held row's id and the repository renewing it
        self._beating: threading.Thread | None = None

    def until(self, now: datetime | None = None) -> datetime:
        """When a lease taken or renewed now expires."""
        return (now or utcnow()) + timedelta(seconds=self.lease_s)

    def hold(self, run_id: str, *, table: Renewing | None = None) -> None:
        """Keep the run's lease alive from now on (call before its row exists, so that no other
        thread of this process finds it stale); ``table``: the repository of another leased row (a
        background settlement's), the runs' by default."""
        with self._lock:
            self._held[run_id] = table or self.runs
            if self._beating is None:
                self._beating = threading.Thread(target=self._beat, name="run-leases", daemon=True)
                self._beating.start()

    def release(self, run_id: str) -> None:
        """The run ended here (done, failed, or its end could not be recorded): stop renewing it."""
        with self._lock:
            self._held.pop(run_id, None)

    def held(self) -> set[str]:
        """The runs this process executes now."""
        with self._lock:
            return set(self._held)

    def stale(self, run: Leased) -> bool:
        """Whether an unfinished run's (or background settlement's) owner is gone: its lease expired
        (or it has none: made before leases), its process on this node exited, or it is this
        process's own and no longer executed here (a database outage kept it from recording its
        end)."""
        if run.id in self.held():
            return False
        if run.owner == self.owner or run.lease_until is None or as_utc(run.lease_until) < utcnow():
            return True
        return owner_gone(run.owner, me=self.owner)

    def _beat(self) -> None:
        """Renew the held rows' leases every heartbeat, one statement per table; ends when none is
        held (``hold`` starts it again). A failed renewal is logged and tried again at the next beat."""
        while True:
            time.sleep(self.heartbeat_s)
            with self._lock:
                if not self._held:
                    self._beating = None
                    return
                tables: dict[int, tuple[Renewing, set[str]]] = {}
                for row_id, table in self._held.items():
                    tables.setdefault(id(table), (table, set()))[1].add(row_id)
            until = self.until()
            for table, ids in tables.values():
                try:
                    table.renew_leases(ids, owner=self.owner, until=until)
                except Exception:
                    logging.getLogger(__name__).warning("leases not renewed", exc_info=True)
