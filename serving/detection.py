"""Detection runs: score every campaign's events of a period with the active model, keep verdicts."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
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
from serving.verdicts import events_hash

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
log = logging.getLogger("cpeguard.shadow")


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
        # called with a run's id when its verdicts are written, before it is marked done
        self.done_listeners: list[Callable[[str], None]] = []
        # a registered challenger scores the same runs in the shadow: logged, never enforced
        self.challenger: WindowModel | None = None
        self._run_models: dict[str, WindowModel] = {}

    def use_models(self, champion: WindowModel, challenger: WindowModel | None) -> None:
        """Decide with ``champion`` from the next run on; shadow it with ``challenger``."""
        self.model, self.challenger = champion, challenger

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
            run = self.repository.covering_run(start=start, end=end)
            # no batch at all since the run (one cheap query), or none into this campaign and period
            # a run by another model than the active one is not reused: settlements name the active one
            if (
                run is not None
                and run.model_version == self.model.version
                and (
                    self.repository.last_batch_id() <= run.last_batch_id
                    or self.repository.last_batch_id(start=start, end=end, campaign_id=campaign_id)
                    <= run.last_batch_id
                )
            ):
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
        # before "done" is visible, so the first settlement after it finds the caches ready
        for listener in self.done_listeners:
            try:
                listener(run_id)
            except Exception:  # a listener only prepares caches; the verdicts are written
                logging.getLogger(__name__).exception("listener of detection run %s failed", run_id)
        self.repository.update_run(
            run_id,
            status="done",
            step="done",
            progress=1.0,
            input_hash=input_hash,
            summary=json.dumps(summary, sort_keys=True),
            finished_at=utcnow(),
        )

    def fail_interrupted(self) -> list[str]:
        """At start-up: runs still queued or running were cut off by a restart; mark them failed."""
        failed = self.repository.fail_unfinished_runs(
            error="interrupted: the server stopped before the run finished; start a new run"
        )
        with self._cache_lock:
            for run_id in failed:
                self._cache.pop(run_id, None)
        return failed

    def campaigns_frame(self) -> pd.DataFrame:
        """Registered campaigns in the contract's campaigns columns (the scorer's price table)."""
        return campaigns_frame(self.repository.campaigns())

    def _create(self, *, start: datetime, end: datetime, n_events: int, actor: Principal) -> str:
        run_id = f"det_{uuid.uuid4().hex}"
        model = self.model
        self._run_models[run_id] = model
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
                    model_version=model.version,
                    rules_version=model.rules_version,
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
        model = self._run_models.pop(run.id, self.model)
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

        campaigns = self.campaigns_frame()
        scored = model.score(events, campaigns=campaigns, progress=progress)
        challenger = self.challenger
        if challenger is not None and challenger.version != model.version:
            self.executor.submit(self._shadow, run.id, events, campaigns, scored.posts, model, challenger)
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

    def _shadow(
        self,
        run_id: str,
        events: pd.DataFrame,
        campaigns: pd.DataFrame,
        decided: pd.DataFrame,
        champion: WindowModel,
        challenger: WindowModel,
    ) -> None:
        """Score a run again with the challenger; log and keep per-creator payout differences."""
        try:
            diff = shadow_differences(decided, challenger.score(events, campaigns=campaigns).posts)
            diff.to_parquet(self.runs_dir / run_id / "shadow.parquet", index=False)
        except Exception:
            log.exception("shadow: challenger %s failed on run %s", challenger.version, run_id)
            return
        changed = diff[diff["change"].abs() >= 0.005]
        log.info(
            "shadow: run %s, challenger %s vs champion %s: %d creators paid differently, total %+.2f of %.2f",
            run_id,
            challenger.version,
            champion.version,
            len(changed),
            float(diff["change"].sum()),
            float(diff["champion_payable"].sum()),
        )
        for row in changed.head(50).itertuples():
            log.info(
                "shadow: run %s creator %s champion %.2f challenger %.2f (%+.2f)",
                run_id,
                row.creator_id,
                row.champion_payable,
                row.challenger_payable,
                row.change,
            )


def shadow_differences(champion_posts: pd.DataFrame, challenger_posts: pd.DataFrame) -> pd.DataFrame:
    """Per creator: payable under the champion and the challenger, and the change, largest first."""

    def per_creator(posts: pd.DataFrame) -> pd.Series:
        return (
            posts.assign(creator_id=posts["creator_id"].astype("str")).groupby("creator_id")["payable"].sum()
        )

    table = pd.DataFrame(
        {"champion_payable": per_creator(champion_posts), "challenger_payable": per_creator(challenger_posts)}
    ).fillna(0.0)
    table["change"] = (table["challenger_payable"] - table["champion_payable"]).round(6)
    table = table.rename_axis("creator_id").reset_index()
    return table.sort_values("change", key=abs, ascending=False, ignore_index=True)


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
