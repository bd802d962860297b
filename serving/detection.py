"""Detection runs: score every campaign's events of a period with the active model, keep verdicts."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Executor
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from detectors.scorer import window_detectors
from features.contract import clean_events
from serving.auth import Principal
from serving.db.models import Campaign, DetectionRun
from serving.db.repository import Repository, as_utc, utcnow
from serving.errors import NotFound
from serving.model import WindowModel
from serving.schemas import DetectionOut
from serving.store import EventStore

VERDICT_COLUMNS = (
    "event_id",
    "campaign_id",
    "post_id",
    "creator_id",
    "user_id",
    "action",
    "ts",
    "copies",
    "risk",
    "invalid",
    "reason",
    "evidence",
)
_STEPS = ("read", *(name for name, _ in window_detectors()), "anomaly", "decide", "write")


class DetectionService:
    """Starts runs (inline when small, in the background when large) and serves their verdicts."""

    def __init__(
        self,
        *,
        repository: Repository,
        store: EventStore,
        model: WindowModel,
        runs_dir: Path,
        executor: Executor,
        sync_max_events: int,
    ) -> None:
        self.repository = repository
        self.store = store
        self.model = model
        self.runs_dir = runs_dir
        self.executor = executor
        self.sync_max_events = sync_max_events
        self._run_lock = threading.Lock()
        self._cache: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._cache_lock = threading.Lock()

    def start(self, *, start: datetime, end: datetime, actor: Principal) -> DetectionOut:
        """Create a run; small periods finish before this returns, large ones run in the background."""
        start, end = as_utc(start), as_utc(end)
        n_events = self.repository.count_events(start=start, end=end)
        run_id = self._create(start=start, end=end, n_events=n_events, actor=actor)
        if n_events <= self.sync_max_events:
            self.execute(run_id)
        else:
            self.executor.submit(self.execute, run_id)
        return self.status(run_id)

    def status(self, run_id: str) -> DetectionOut:
        """A run's status, progress and summary."""
        run = self.repository.run(run_id)
        if run is None:
            raise NotFound(f"no detection run {run_id!r}")
        return _run_out(run)

    def current_run(self, *, start: datetime, end: datetime, campaign_id: str, actor: Principal) -> str:
        """The latest finished run covering the period and every event of the campaign in it.

        Runs one inline over exactly the period when none covers it or events arrived after it.
        """
        with self._run_lock:
            last_batch = self.repository.last_batch_id(start=start, end=end, campaign_id=campaign_id)
            run = self.repository.covering_run(start=start, end=end)
            if run is not None and run.last_batch_id >= last_batch:
                return run.id
            n_events = self.repository.count_events(start=start, end=end)
            run_id = self._create(start=start, end=end, n_events=n_events, actor=actor)
            self.execute(run_id)
        done = self.repository.run(run_id)
        if done is None or done.status != "done":
            raise RuntimeError(f"detection run {run_id} failed: {done.error if done else 'missing'}")
        return run_id

    def verdicts(self, run_id: str) -> pd.DataFrame:
        """The per-event verdicts of a finished run (cached: runs never change)."""
        with self._cache_lock:
            if run_id in self._cache:
                self._cache.move_to_end(run_id)
                return self._cache[run_id]
        frame = pd.read_parquet(self.runs_dir / run_id / "engagements.parquet")
        with self._cache_lock:
            self._cache[run_id] = frame
            while len(self._cache) > 4:
                self._cache.popitem(last=False)
        return frame

    def accounts(self, run_id: str) -> pd.DataFrame:
        """The accounts a finished run scored."""
        return pd.read_parquet(self.runs_dir / run_id / "accounts.parquet")

    def execute(self, run_id: str) -> None:
        """Score the run's period and write its verdicts; failures are recorded on the run."""
        run = self.repository.run(run_id)
        if run is None:
            return
        self.repository.update_run(run_id, status="running", step="read")
        try:
            summary, input_hash = self._score(run)
        except Exception as error:
            self.repository.update_run(
                run_id, status="failed", error=f"{type(error).__name__}: {error}"[:2000], finished_at=utcnow()
            )
            return
        self.repository.update_run(
            run_id,
            status="done",
            step="done",
            progress=1.0,
            input_hash=input_hash,
            summary=json.dumps(summary, sort_keys=True),
            finished_at=utcnow(),
        )

    def campaigns_frame(self) -> pd.DataFrame:
        """Registered campaigns in the contract's campaigns columns (the scorer's price table)."""
        return campaigns_frame(self.repository.campaigns())

    def _create(self, *, start: datetime, end: datetime, n_events: int, actor: Principal) -> str:
        run_id = f"det_{uuid.uuid4().hex}"
        with self.repository.session() as session:
            session.add(
                DetectionRun(
                    id=run_id,
                    period_start=start,
                    period_end=end,
                    status="queued",
                    step="",
                    progress=0.0,
                    n_events=n_events,
                    last_batch_id=self.repository.last_batch_id(),
                    model_version=self.model.version,
                    rules_version=self.model.rules_version,
                    input_hash="",
                    summary="{}",
                    error="",
                    actor=actor.key_id,
                    created_at=utcnow(),
                )
            )
            self.repository.audit(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="detection.start",
                target=run_id,
                detail={"period_start": start, "period_end": end, "n_events": n_events},
            )
        return run_id

    def _score(self, run: DetectionRun) -> tuple[dict[str, int | float | str], str]:
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        raw = self.store.read(start=start, end=end)
        out_dir = self.runs_dir / run.id
        out_dir.mkdir(parents=True, exist_ok=True)
        if raw.empty:
            empty = pd.DataFrame({c: pd.Series(dtype="str") for c in VERDICT_COLUMNS})
            empty.to_parquet(out_dir / "engagements.parquet", index=False)
            pd.DataFrame({"account_id": [], "role": [], "risk": [], "flagged": [], "reasons": []}).to_parquet(
                out_dir / "accounts.parquet", index=False
            )
            return {"n_events": 0, "n_invalid": 0, "n_posts": 0, "n_flagged_accounts": 0}, events_hash(raw)
        events = clean_events(raw, source="event store").frame

        def progress(step: str) -> None:
            position = _STEPS.index(step) if step in _STEPS else 0
            self.repository.update_run(run.id, step=step, progress=round(position / len(_STEPS), 3))

        scored = self.model.score(events, campaigns=self.campaigns_frame(), progress=progress)
        progress("write")
        verdicts = scored.engagements[list(VERDICT_COLUMNS)].copy()
        for column in verdicts.columns:
            if isinstance(verdicts[column].dtype, pd.CategoricalDtype):
                verdicts[column] = verdicts[column].astype("str")
        verdicts.to_parquet(out_dir / "engagements.parquet", index=False)
        accounts = scored.accounts.copy()
        accounts.to_parquet(out_dir / "accounts.parquet", index=False)
        decisions = scored.posts["decision"].value_counts()
        summary: dict[str, int | float | str] = {
            "n_events": len(events),
            "n_engagements": len(verdicts),
            "n_invalid": int(verdicts["invalid"].sum()),
            "n_posts": len(scored.posts),
            "n_flagged_accounts": int(accounts["flagged"].sum()),
            **{f"posts_{k}": int(v) for k, v in decisions.items()},
        }
        if scored.unavailable_signals:
            summary["signals_not_used"] = "; ".join(scored.unavailable_signals)
        return summary, events_hash(raw)


def events_hash(events: pd.DataFrame) -> str:
    """SHA-256 of a window's events in the contract's columns, sorted by event_id."""
    digest = hashlib.sha256()
    if events.empty:
        return digest.hexdigest()
    ordered = events.sort_values("event_id", kind="stable")
    for column in ("event_id", "campaign_id", "post_id", "creator_id", "user_id", "action", "ts"):
        digest.update(column.encode())
        digest.update("\x1f".join(ordered[column].astype("str").tolist()).encode())
    return digest.hexdigest()


def campaigns_frame(campaigns: Iterable[Campaign]) -> pd.DataFrame:
    """Campaign rows as the scorer's campaigns frame."""
    rows = [
        {
            "campaign_id": c.campaign_id,
            "currency": c.currency,
            "price_like": float(c.price_like),
            "price_favorite": float(c.price_favorite),
            "price_comment": float(c.price_comment),
            "price_share": float(c.price_share),
        }
        for c in campaigns
    ]
    columns = ["campaign_id", "currency", "price_like", "price_favorite", "price_comment", "price_share"]
    return pd.DataFrame(rows, columns=columns)


def _run_out(run: DetectionRun) -> DetectionOut:
    return DetectionOut(
        run_id=run.id,
        status=run.status,  # type: ignore[arg-type]
        step=run.step,
        progress=run.progress,
        period_start=as_utc(run.period_start),
        period_end=as_utc(run.period_end),
        n_events=run.n_events,
        model_version=run.model_version,
        rules_version=run.rules_version,
        input_hash=run.input_hash,
        summary=json.loads(run.summary),
        error=run.error,
    )


def to_decimal(value: float) -> Decimal:
    """A float amount as cents."""
    return Decimal(repr(round(float(value), 6))).quantize(Decimal("0.01"))
