"""Ingest: contract rows in (JSON batch or file), new events into the store, duplicates counted once."""

from __future__ import annotations

import io
import threading
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.exc import IntegrityError

from features.contract import ContractError, clean_events
from features.schema import EVENT_OPTIONAL, EVENT_REQUIRED
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.database import utcnow
from serving.db.events import EventRepository
from serving.db.models import IngestBatch
from serving.errors import Conflict, Invalid, PayloadTooLarge
from serving.schemas import IngestOut, RejectedRow
from serving.store import EventStore

CONTRACT_COLUMNS: tuple[str, ...] = (*EVENT_REQUIRED, *EVENT_OPTIONAL)
MAX_REJECTS_LISTED = 1000


class IngestService:
    """Validates events with the data contract and appends the new ones to the event store."""

    def __init__(
        self,
        *,
        events: EventRepository,
        audit_trail: AuditRepository,
        store: EventStore,
        max_batch_events: int,
    ) -> None:
        self.events = events
        self.audit_trail = audit_trail
        self.store = store
        self.max_batch_events = max_batch_events
        self._lock = threading.Lock()

    def ingest_rows(self, rows: list[dict[str, object]], *, actor: Principal) -> IngestOut:
        """Ingest a JSON batch (rows in the contract's columns)."""
        if len(rows) > self.max_batch_events:
            raise PayloadTooLarge(f"batch has {len(rows)} events; the limit is {self.max_batch_events}")
        frame = pd.DataFrame(rows, columns=list(CONTRACT_COLUMNS))
        for column in CONTRACT_COLUMNS:
            if column != "user_followers":
                frame[column] = frame[column].astype("str").where(frame[column].notna())
        try:
            frame["user_followers"] = frame["user_followers"].astype("Int64")
        except (OverflowError, TypeError, ValueError):
            # a count beyond 64 bits: left as given, so the contract rejects that row, not the batch
            frame["user_followers"] = frame["user_followers"].astype("object")
        return self._ingest(frame, source="request", actor=actor)

    def ingest_file(self, *, filename: str, data: bytes, actor: Principal) -> IngestOut:
        """Ingest an uploaded Parquet or CSV file."""
        frame = _read_upload(filename, data)
        return self._ingest(frame, source=Path(filename).name or "upload", actor=actor)

    def _ingest(self, raw: pd.DataFrame, *, source: str, actor: Principal) -> IngestOut:
        try:
            cleaned = clean_events(raw, source=source)
        except ContractError as error:
            raise Invalid(str(error)) from None
        rejected = [
            RejectedRow(row=int(row), field=str(field), reason=str(reason), value=str(value))
            for row, field, reason, value in cleaned.rejects.head(MAX_REJECTS_LISTED)[
                ["source_row", "column", "reason", "value"]
            ].itertuples(index=False)
        ]
        # the same event_id twice in one batch is the platform reporting it twice (a replay):
        # stored as reported, so a post's claimed count is the same as in `cpeguard score`;
        # an event_id already stored by an earlier batch is a client's retry and is dropped
        events = _plain(cleaned.frame)
        repeated_in_batch = events["event_id"].duplicated(keep="first").to_numpy()
        with self._lock:
            try:
                batch_id, n_new = self._store_new(
                    events,
                    raw_rows=len(raw),
                    rejected=len(rejected),
                    source=source,
                    actor=actor,
                    repeated=int(repeated_in_batch.sum()),
                )
            except IntegrityError:
                raise Conflict("another ingest of the same events is in progress; retry") from None
        return IngestOut(
            batch_id=batch_id,
            received=len(raw),
            accepted=n_new,
            duplicates=len(cleaned.frame) - n_new,
            rejected=rejected,
            missing_optional=list(cleaned.missing_optional),
        )

    def _store_new(
        self,
        events: pd.DataFrame,
        *,
        raw_rows: int,
        rejected: int,
        source: str,
        actor: Principal,
        repeated: int,
    ) -> tuple[int, int]:
        written: list[Path] = []
        try:
            with self.events.session() as session:
                ids = events["event_id"].drop_duplicates().tolist()
                known = self.events.existing_event_ids(session, ids)
                new_rows = events.loc[~events["event_id"].isin(known)] if known else events
                new = new_rows.drop_duplicates("event_id")
                batch_id = self.events.add_batch(
                    session,
                    IngestBatch(
                        source=source[:300],
                        n_rows=raw_rows,
                        accepted=len(new),
                        duplicates=len(known) + repeated,
                        rejected=rejected,
                        actor=actor.key_id,
                        created_at=utcnow(),
                    ),
                )
                self.events.add_events(
                    session,
                    (
                        {"event_id": e, "campaign_id": c, "ts": t, "batch_id": batch_id}
                        for e, c, t in zip(
                            new["event_id"], new["campaign_id"], new["ts"].dt.to_pydatetime(), strict=True
                        )
                    ),
                )
                self.audit_trail.record(
                    session,
                    actor=actor.key_id,
                    role=actor.role,
                    action="events.ingest",
                    target=f"batch:{batch_id}",
                    detail={"source": source, "rows": raw_rows, "accepted": len(new), "rejected": rejected},
                )
                if len(new):
                    written = self.store.append(new_rows, batch_id=f"{batch_id:08d}-{uuid.uuid4().hex[:6]}")
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return batch_id, len(new)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns only, categoricals as plain text, so every part file has one schema."""
    out = frame[list(CONTRACT_COLUMNS)].copy()
    for column in CONTRACT_COLUMNS:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("str").where(out[column].notna())
    return out.reset_index(drop=True)


def _read_upload(filename: str, data: bytes) -> pd.DataFrame:
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(io.BytesIO(data)).to_pandas()
        if suffix in (".csv", ".txt"):
            return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Invalid(f"file: {filename} cannot be read ({first})") from None
    raise Invalid(f"file: unknown file type {suffix!r}; upload .parquet or .csv")
