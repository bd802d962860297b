"""The audit trail: read through this service; key uses are written behind in batches.

Every settlement, adjustment and sign-off writes its audit row in its own transaction
(``AuditRepository.record``). Key uses happen on every request, so they are queued here and
written in one insert by a background thread every ``flush_every_s`` seconds, when the
queue reaches ``batch_size``, before every audit read and when the app stops. A failed
write keeps the rows queued for the next attempt; when ``max_pending`` rows are waiting
the request that would add one more flushes itself and fails (503) if the database is
down, so no key use goes unrecorded while requests are still being answered. If the
database refuses the last write at shutdown, the rows go to a JSON-lines file in
``spill_dir``, which ``recover`` writes to the database at the next start.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.schemas import AuditOut

_log = logging.getLogger(__name__)


class AuditLog:
    """Appends key uses behind the request path and serves the (read-only) audit trail."""

    def __init__(
        self,
        *,
        audit_trail: AuditRepository,
        flush_every_s: float = 0.2,
        batch_size: int = 500,
        max_pending: int = 20_000,
        spill_dir: Path | None = None,
    ) -> None:
        self.audit_trail = audit_trail
        self.spill_dir = spill_dir
        self.flush_every_s = flush_every_s
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._pending: deque[dict[str, Any]] = deque()
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def record_later(
        self, *, actor: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Queue one audit row (stamped now) for the background writer."""
        row = {
            "at": utcnow(),
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "detail": json.dumps(detail or {}, sort_keys=True, default=str),
        }
        with self._pending_lock:
            self._pending.append(row)
            waiting = len(self._pending)
        if waiting > self.max_pending:
            self.flush()  # the database is behind: write now, or fail this request
        elif waiting >= self.batch_size:
            self._wake.set()
        self._ensure_writer()

    @property
    def pending(self) -> int:
        """Rows queued and not yet written."""
        with self._pending_lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every queued row in one transaction; on failure they stay queued and the error is raised."""
        with self._flush_lock:
            with self._pending_lock:
                rows = list(self._pending)
                self._pending.clear()
            if not rows:
                return 0
            try:
                self.audit_trail.add_rows(rows)
            except BaseException:
                with self._pending_lock:
                    self._pending.extendleft(reversed(rows))
                raise
            return len(rows)

    def close(self) -> None:
        """Stop the writer and write what is queued; rows the database refuses go to a spill file."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=30)
            self._stop.clear()
        try:
            self.flush()
        except Exception:
            if self.spill_dir is None:
                raise
            with self._pending_lock:
                rows = list(self._pending)
                self._pending.clear()
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            path = self.spill_dir / f"audit-{uuid.uuid4().hex}.jsonl"
            path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
            _log.error("database refused %d audit rows at shutdown; kept in %s", len(rows), path)

    def recover(self) -> int:
        """Write rows spilled at an earlier shutdown to the database (then delete their files)."""
        if self.spill_dir is None or not self.spill_dir.exists():
            return 0
        written = 0
        for path in sorted(self.spill_dir.glob("audit-*.jsonl")):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for row in rows:
                row["at"] = datetime.fromisoformat(row["at"])
            self.audit_trail.add_rows(rows)
            path.unlink()
            written += len(rows)
        return written

    def entries(self, *, target: str | None, limit: int) -> list[AuditOut]:
        """The latest audit rows, newest last (of one target, or all), queued key uses included."""
        self.flush()
        return [
            AuditOut(
                id=e.id,
                at=as_utc(e.at),
                actor=e.actor,
                role=e.role,
                action=e.action,
                target=e.target,
                detail=json.loads(e.detail),
            )
            for e in self.audit_trail.entries(target=target, limit=limit)
        ]

    def _ensure_writer(self) -> None:
        if self._thread is not None:
            return
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as error:  # the rows stay queued; the next tick retries
                _log.warning("audit write failed, %d rows kept for retry: %s", self.pending, error)
