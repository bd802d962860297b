"""Ingest: contract rows in (JSON batch or file), new events into the store, duplicates counted once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.exc import IntegrityError

from features.contract import ContractError, clean_events
from features.schema import EVENT_OPTIONAL, EVENT_REQUIRED
from serving import faults
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.database import utcnow
from serving.db.events import EventRepository
from serving.db.models import IngestBatch
from serving.errors import Conflict, Invalid, PayloadTooLarge, Unavailable
from serving.schemas import IngestOut, RejectedRow
from serving.store import EventStore, Reconciled
from serving.uploads import IngestLimits, read_upload

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
        limits: IngestLimits,
    ) -> None:
        self.events = events
        self.audit_trail = audit_trail
        self.store = store
        self.limits = limits

    def ingest_rows(self, rows: list[dict[str, object]], *, actor: Principal) -> IngestOut:
        """Ingest a JSON batch (rows in the contract's columns)."""
        limit = self.limits.max_batch_events
        if len(rows) > limit:
            raise PayloadTooLarge(f"batch has {len(rows)} events; the limit is {limit}")
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
        frame = read_upload(filename, data, limits=self.limits)
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
        with self.store.writing:
            batch_id, n_new = self._store_new(
                events,
                raw_rows=len(raw),
                rejected=len(rejected),
                source=source,
                actor=actor,
                repeated=int(repeated_in_batch.sum()),
            )
        return IngestOut(
            batch_id=batch_id,
            received=len(raw),
            accepted=n_new,
            duplicates=len(cleaned.frame) - n_new,
            rejected=rejected,
            missing_optional=list(cleaned.missing_optional),
        )

    def reconcile(self) -> Reconciled:
        """Bring the store in line with the database (at start-up): see ``EventStore.reconcile``."""
        with self.store.writing:
            return self.store.reconcile(self.events.committed_batches)

    def _store_new(self, events: pd.DataFrame, **batch: Any) -> tuple[int, int]:
        """Stage the new events, commit the batch, then publish: a crash anywhere leaves no event
        in the store that the database did not accept (reconciliation finishes or discards)."""
        self.store.reconcile_staged(self.events.committed_batches)
        try:
            batch_id, n_new, staged = self._commit(events, **batch)
        except IntegrityError:
            self._reconcile_quietly()
            raise Conflict("another ingest of the same events is in progress; retry") from None
        except OSError as error:
            self._reconcile_quietly()
            raise Unavailable(
                f"event store cannot be written ({error.strerror}); nothing was recorded"
            ) from None
        except BaseException:
            self._reconcile_quietly()
            raise
        if staged is not None:
            faults.point("ingest_after_commit")
            try:
                self.store.publish(staged)
            except OSError as error:
                raise Unavailable(
                    f"batch {batch_id} was accepted but its files are not yet readable ({error.strerror}); "
                    "they are published by the next ingest or restart"
                ) from None
        return batch_id, n_new

    def _commit(
        self,
        events: pd.DataFrame,
        *,
        raw_rows: int,
        rejected: int,
        source: str,
        actor: Principal,
        repeated: int,
    ) -> tuple[int, int, str | None]:
        """One transaction: the batch, its events' index and the audit record; the new events are
        staged in it, before it commits. Returns the batch id, the new events and the staging key."""
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
            staged = self.store.stage(new_rows, batch_id=batch_id) if len(new) else None
            faults.point("ingest_after_stage")
        return batch_id, len(new), staged

    def _reconcile_quietly(self) -> None:
        """After a failed commit: discard (or, if it did commit, publish) what was staged. With the
        database away this cannot be known: the files stay staged until the next ingest or restart."""
        try:
            self.store.reconcile_staged(self.events.committed_batches)
        except Exception:
            logging.getLogger(__name__).warning(
                "staged files left for the next reconciliation", exc_info=True
            )


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns only, categoricals as plain text, so every part file has one schema."""
    out = frame[list(CONTRACT_COLUMNS)].copy()
    for column in CONTRACT_COLUMNS:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("str").where(out[column].notna())
    return out.reset_index(drop=True)
