"""What a settlement request is answered with: the stored body, byte for byte, and whether it is a
replay; the process's cache of settlement bodies; a background settlement's status or failure."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from serving.db.database import as_utc
from serving.db.models import SettlementRequest
from serving.schemas import SettlementPending
from serving.statuses import RunStatus

__all__ = ["BodyCache", "StoredAnswer", "request_answer"]


@dataclass(frozen=True)
class StoredAnswer:
    """The stored body of an idempotent request's answer, and whether this call replayed it.

    ``status_code`` overrides the usual 201 (made) or 200 (replayed): 202 while a settlement
    is made in the background, or the error status a background settlement failed with.
    """

    body: bytes
    is_replay: bool
    status_code: int | None = None


class BodyCache:
    """Settlement bodies by id, least recently used dropped past ``max_bytes`` (they never change)."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, settlement_id: str) -> bytes | None:
        """The cached body, if any."""
        with self._lock:
            body = self._bodies.get(settlement_id)
            if body is not None:
                self._bodies.move_to_end(settlement_id)
            return body

    def put(self, settlement_id: str, body: bytes) -> None:
        """Keep a body (a body larger than the whole cache is not kept)."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if settlement_id in self._bodies:
                return
            self._bodies[settlement_id] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)


def request_answer(row: SettlementRequest, *, is_replay: bool) -> StoredAnswer:
    """A background settlement's status (202), or the error it failed with (its HTTP status)."""
    if row.status == RunStatus.FAILED:
        body = json.dumps({"detail": row.error}).encode()
        return StoredAnswer(body=body, is_replay=is_replay, status_code=row.error_status or 500)
    pending = SettlementPending(
        settlement_id=row.id,
        campaign_id=row.campaign_id,
        period_start=as_utc(row.period_start),
        period_end=as_utc(row.period_end),
        status=row.status,
        status_url=f"/v1/settlements/{row.id}",
        created_at=as_utc(row.created_at),
    )
    return StoredAnswer(body=pending.model_dump_json().encode(), is_replay=is_replay, status_code=202)
