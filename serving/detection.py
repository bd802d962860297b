"""Detection runs: score every campaign's events of a period with the active model, keep verdicts."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from detectors.params import ScoringParams, as_json, params_from_json
from serving import faults
from serving.auth import Principal
from serving.campaigns import campaigns_frame
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc, utcnow
from serving.db.events import EventRepository
from serving.db.models import DetectionRun
from serving.db.runs import RunRepository
from serving.errors import NotFound, Unavailable
from serving.history_state import HistoryStates
from serving.money import to_decimal
from serving.reputation import ReputationMemory
from serving.run_context import RunContext
from serving.run_leases import RunLeases
from serving.run_scoring import RunScoring
from serving.schemas import DetectionOut
from serving.scored_runs import KeptRuns, ScoredRun
from serving.scorers import ActiveModels, VersionedScorer
from serving.shadow import shadow_differences
from serving.spark_handoff import SparkHandoff
from serving.statuses import UNFINISHED, RunStatus
from serving.store import EventStore

# re-exported: the review services, settlements and tests import them from here
__all__ = ["DetectionService", "campaigns_frame", "shadow_differences", "to_decimal"]

_RUNS_KEPT = 4
# how often a settlement waiting for another process's run of its period looks whether it ended
_AWAIT_POLL_S = 0.1


class DetectionService:
    """Starts runs (inline when small, in the background when large) and serves their verdicts."""

    def __init__(
        self,
        *,
        runs: RunRepository,
        events: EventRepository,
        campaigns: CampaignRepository,
        audit_trail: AuditRepository,
        store: EventStore,
        cold: VersionedScorer,
        runs_dir: Path,
        executor: Executor,
        sync_max_events: int,
        leases: RunLeases,
        run_wait_s: float,
        history_days: int = 0,
        spark: SparkHandoff | None = None,
        reputation: ReputationMemory | None = None,
        history_states: HistoryStates | None = None,
    ) -> None:
        self.runs = runs
        self.events = events
        self.campaigns = campaigns
        self.audit_trail = audit_trail
        self.store = store
        # the service's own thresholds: decides until the models are loaded, and judges runs made
        # before their params were stored
        self.cold = cold
        # what decides now; None until the models are loaded (start_models), swapped whole
        self.active: ActiveModels | None = None
        self.runs_dir = runs_dir
        self.executor = executor
        self.sync_max_events = sync_max_events
        # the runs this process executes, their owner name and leases (``serving.run_leases``)
        self.leases = leases
        # a settlement waits this long at most for other threads' or processes' runs (``current_run``)
        self.run_wait_s = run_wait_s
        # days around a run's period read as context (``detectors.history``, ``context_ranges``); 0: none
        self.history_days = history_days
        # accounts earlier runs and reviews established (``serving.reputation``); None: no memory
        self.reputation = reputation
        # the run's events, lookback and reputation (``serving.run_context``)
        self.context = RunContext(
            store=store, events=events, history_days=history_days, reputation=reputation
        )
        # scores a run's period (``serving.run_scoring``)
        self.scoring = RunScoring(
            runs=runs,
            campaigns=campaigns,
            context=self.context,
            runs_dir=runs_dir,
            executor=executor,
            spark=spark,
            history_states=history_states,
        )
        self._run_lock = threading.Lock()
        # the last runs' scored windows, and verdicts read back after a restart
        self.kept = KeptRuns(runs_dir=runs_dir, n_kept=_RUNS_KEPT)
        # called with a run's scored window when it is written, before the run is marked done
        self.done_listeners: list[Callable[[ScoredRun], None]] = []
        self._run_models: dict[str, ActiveModels] = {}

    def models(self) -> ActiveModels:
        """The active models (read once: the polling thread may swap them at any moment)."""
        active = self.active
        if active is None:
            raise Unavailable("no detection model is loaded yet; nothing was recorded")
        return active

    def start(self, *, start: datetime, end: datetime, actor: Principal) -> DetectionOut:
        """Create a run; small periods finish before this returns, large ones run in the background."""
        start, end = as_utc(start), as_utc(end)
        n_events = self.events.count_events(start=start, end=end)
        run_id, _ = self._create(start=start, end=end, n_events=n_events, actor=actor)
        # the context is scored too: it counts toward running inline
        n_context = sum(self.events.count_events(start=a, end=b) for a, b in self.context_ranges(start, end))
        if n_events + n_context <= self.sync_max_events:
            self.execute(run_id)
        else:
            self.executor.submit(self.execute, run_id)
        return self.status(run_id)

    def status(self, run_id: str) -> DetectionOut:
        """A run's status, progress and summary."""
        run = self.runs.run(run_id)
        if run is None:
            raise NotFound(f"no detection run {run_id!r}")
        return _run_out(run)

    def current_run(self, *, start: datetime, end: datetime, campaign_id: str, actor: Principal) -> str:
        """The latest finished run covering the period and every event of the campaign in it.

        Runs one inline over exactly the period when none covers it or events arrived after it,
        unless another thread or process is running one this would reuse: that one is waited for,
        ``run_wait_s`` at most in all; past it this runs its own (whose failure holds the money,
        as any detection failure: ``PostDecider.decide``).
        """
        with self._run_lock:
            deadline = time.monotonic() + self.run_wait_s
            join = True
            while True:
                reusable = self.reusable_run(start=start, end=end, campaign_id=campaign_id)
                if reusable is not None:
                    return reusable
                n_events = self.events.count_events(start=start, end=end)
                read_from = self.last_batch_read(start=start, end=end, campaign_id=campaign_id)
                run_id, created = self._create(
                    start=start,
                    end=end,
                    n_events=n_events,
                    actor=actor,
                    join_from_batch=read_from if join else None,
                )
                if created:
                    break
                join = self._await(run_id, deadline=deadline)
            self.execute(run_id)
        done = self.runs.run(run_id)
        if done is None or done.status != RunStatus.DONE:
            raise RuntimeError(f"detection run {run_id} failed: {done.error if done else 'missing'}")
        return run_id

    def reusable_run(self, *, start: datetime, end: datetime, campaign_id: str) -> str | None:
        """The finished run ``current_run`` would reuse for the campaign and period, if any."""
        run = self.runs.covering_run(start=start, end=end)
        champion = self.models().champion
        # a run by another model than the active one is not reused: settlements name the active one
        if run is None or (run.model_version, run.rules_version) != (
            champion.version,
            champion.rules_version,
        ):
            return None
        # a newer review verdict the run would read: run again (the billing client's settlement
        # must not ignore it)
        if self.reputation_changed(run):
            return None
        # no batch at all since the run (one cheap query), or none into this campaign and period and
        # none into the run's context around it
        if self.events.last_batch_id() <= run.last_batch_id:
            return run.id
        read = self.last_batch_read(start=start, end=end, campaign_id=campaign_id)
        return run.id if read <= run.last_batch_id else None

    def last_batch_read(self, *, start: datetime, end: datetime, campaign_id: str) -> int:
        """The last ingest batch with events of the campaign in the period, or of any campaign in the
        context around it: a run must have read it for a settlement of the campaign to reuse it."""
        return max(
            [
                self.events.last_batch_id(start=start, end=end, campaign_id=campaign_id),
                *(self.events.last_batch_id(start=a, end=b) for a, b in self.context_ranges(start, end)),
            ]
        )

    def _await(self, run_id: str, *, deadline: float) -> bool:
        """Wait until another thread's or process's run ends, or its owner is gone (its lease expired:
        the next ``_create`` marks it failed): True. False when ``deadline`` (``time.monotonic``)
        passes first: the run is alive and unfinished, and is no longer waited for."""
        while True:
            run = self.runs.run(run_id)
            if run is None or run.status not in UNFINISHED or self.leases.stale(run):
                return True
            if time.monotonic() >= deadline:
                logging.getLogger(__name__).warning(
                    "detection run %s of %s not finished after %.0f s of waiting: running another",
                    run_id,
                    run.owner,
                    self.run_wait_s,
                )
                return False
            time.sleep(_AWAIT_POLL_S)

    def context_ranges(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of the store a run over ``[start, end)`` reads as context
        (``RunContext.context_ranges``)."""
        return self.context.context_ranges(start, end)

    def stored_events(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_id: str | None = None,
        through_batch: int | None = None,
    ) -> pd.DataFrame:
        """The store's events of the period, checked against the database (``RunContext.stored_events``)."""
        return self.context.stored_events(
            start=start, end=end, campaign_id=campaign_id, through_batch=through_batch
        )

    def reputation_changed(self, run: DetectionRun) -> bool:
        """Whether reputation the run read or would read changed since it was created
        (``RunContext.reputation_changed``): such a run is not reused."""
        return self.context.reputation_changed(run, accounts=self.accounts)

    def scored(self, run_id: str) -> ScoredRun | None:
        """The run's scored window if this process scored it recently (None after a restart)."""
        return self.kept.scored(run_id)

    def verdicts(self, run_id: str) -> pd.DataFrame:
        """The per-event verdicts of a finished run: in memory, or read once from its folder."""
        return self.kept.verdicts(run_id)

    def accounts(self, run_id: str) -> pd.DataFrame:
        """The accounts a finished run scored."""
        return self.kept.accounts(run_id)

    def params(self, run_id: str) -> ScoringParams:
        """The thresholds the run scored and decided with.

        Runs made before their params were stored are judged by a scorer of the
        same rules version (the active ones, or the service's own), else by the service's.
        """
        kept = self.scored(run_id)
        if kept is not None:
            return kept.scorer.params
        run = self.runs.run(run_id)
        if run is not None and run.params:
            return params_from_json(run.params)
        active = self.active
        known = [self.cold] if active is None else [active.champion, active.challenger, self.cold]
        same = [
            s for s in known if s is not None and run is not None and s.rules_version == run.rules_version
        ]
        return (same[0] if same else self.cold).params

    def execute(self, run_id: str) -> None:
        """Score the run's period and write its verdicts; failures are recorded on the run."""
        try:
            self._execute(run_id)
        finally:
            self.leases.release(run_id)
            self._run_models.pop(run_id, None)

    def _execute(self, run_id: str) -> None:
        run = self.runs.run(run_id)
        owner = self.leases.owner
        # a run another process failed meanwhile (this one held no live lease on it) is not run
        if run is None or not self.runs.update_unfinished(
            run_id, owner=owner, status=RunStatus.RUNNING, step="read"
        ):
            return
        try:
            scored, summary, input_hash = self._score(run)
        except Exception as error:
            self.runs.update_unfinished(
                run_id,
                owner=owner,
                status=RunStatus.FAILED,
                error=f"{type(error).__name__}: {error}"[:2000],
                finished_at=utcnow(),
            )
            return
        self.kept.keep(scored)
        self._remember(scored)
        self._mark_visible(run_id)
        # before "done" is visible, so the first settlement after it finds the caches ready
        for listener in self.done_listeners:
            try:
                listener(scored)
            except Exception:  # a listener only prepares caches; the verdicts are written
                logging.getLogger(__name__).exception("listener of detection run %s failed", run_id)
        faults.point("detection_scored")
        done = self.runs.update_unfinished(
            run_id,
            owner=owner,
            status=RunStatus.DONE,
            step="done",
            progress=1.0,
            input_hash=input_hash,
            summary=json.dumps(summary, sort_keys=True),
            finished_at=utcnow(),
        )
        if not done:  # its lease expired (a database outage longer than it) and another process failed it
            logging.getLogger(__name__).warning("detection run %s was failed before it finished", run_id)

    def _mark_visible(self, run_id: str) -> None:
        """Let the run's settlements count its events by the index alone (a failure is logged: the
        counts stay exact, only slower)."""
        try:
            self.events.mark_visible()
        except Exception:
            logging.getLogger(__name__).exception("events not vacuumed after detection run %s", run_id)

    def _remember(self, scored: ScoredRun) -> None:
        """Record the run's confirmed accounts as reputation (a failure is logged: the verdicts stand)."""
        if self.reputation is None or scored.confirmed is None or scored.confirmed.empty:
            return
        try:
            self.reputation.remember_run(scored.run_id, scored.confirmed)
        except Exception:
            logging.getLogger(__name__).exception(
                "reputation of detection run %s not recorded", scored.run_id
            )

    def fail_interrupted(self) -> list[str]:
        """At start-up: runs still queued or running whose owner is gone were cut off (their process
        was killed or restarted); mark them failed. Runs of other live processes go on."""
        return self.fail_stale()

    def published_batch(self) -> int:
        """The last ingest batch whose files are published (one being published, by this process or
        another over the same store, is waited for: ``StoreLock``)."""
        with self.store.writing:
            return self.events.last_batch_id()

    def fail_stale(self) -> list[str]:
        """Runs left queued or running whose owner is gone (``RunLeases.stale``: a process killed or
        restarted, or a database outage that kept the run from recording its end); mark them failed."""
        failed = self.runs.fail_stale_runs(
            error="interrupted: the run stopped before it finished (restart or database outage); "
            "start a new run",
            stale=self.leases.stale,
        )
        self.kept.forget(failed)
        return failed

    def campaigns_frame(self) -> pd.DataFrame:
        """Registered campaigns in the contract's campaigns columns (the scorer's price table)."""
        return campaigns_frame(self.campaigns.campaigns())

    def _create(
        self,
        *,
        start: datetime,
        end: datetime,
        n_events: int,
        actor: Principal,
        join_from_batch: int | None = None,
    ) -> tuple[str, bool]:
        """A new run of the period (its id, True), queued; or, given ``join_from_batch``, the id of a
        run another thread or process is running that covers the period and read every batch from
        ``join_from_batch`` on (its id, False: nothing is created). A new run created to join
        nothing is created running: its caller executes it at once."""
        run_id = f"det_{uuid.uuid4().hex}"
        active = self.models()
        self.fail_stale()
        # before the run's transaction: the store's lock may wait for another process's publish
        last_batch_id = self.published_batch()
        self.leases.hold(run_id)  # before its row exists, so no other thread finds it stale
        self._run_models[run_id] = active
        run = self._new_run(run_id, start, end, n_events=n_events, last_batch_id=last_batch_id, actor=actor)
        if join_from_batch is not None:
            run.status = RunStatus.RUNNING  # executed at once by the caller: others may wait for it

        def record(session: Session) -> None:
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="detection.start",
                target=run_id,
                detail={"period_start": start, "period_end": end, "n_events": n_events},
            )

        got = ""
        try:
            got = self.runs.add_unless_running(run, record=record, join_from_batch=join_from_batch)
        finally:
            if got != run_id:  # joined another run, or nothing was recorded
                self.leases.release(run_id)
                self._run_models.pop(run_id, None)
        return got, got == run_id

    def _new_run(
        self,
        run_id: str,
        start: datetime,
        end: datetime,
        *,
        n_events: int,
        last_batch_id: int,
        actor: Principal,
    ) -> DetectionRun:
        champion = self._run_models[run_id].champion
        return DetectionRun(
            id=run_id,
            period_start=start,
            period_end=end,
            status=RunStatus.QUEUED,
            step="",
            progress=0.0,
            n_events=n_events,
            last_batch_id=last_batch_id,
            model_version=champion.version,
            rules_version=champion.rules_version,
            params=as_json(champion.params),
            input_hash="",
            summary="{}",
            error="",
            actor=actor.key_id,
            created_at=utcnow(),
            owner=self.leases.owner,
            lease_until=self.leases.until(),
        )

    def _score(self, run: DetectionRun) -> tuple[ScoredRun, dict[str, int | float | str], str]:
        active = self._run_models.pop(run.id, None) or self.models()
        return self.scoring.score(run, active)


def _run_out(run: DetectionRun) -> DetectionOut:
    return DetectionOut(
        run_id=run.id,
        status=run.status,
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
