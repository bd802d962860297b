"""Detection runs: score every campaign's events of a period with the active model, keep verdicts."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from detectors.memory import confirmed_subjects
from detectors.params import ScoringParams, as_json, params_from_json
from detectors.registry import PROGRESS_STEPS
from detectors.scorer import ScoredWindow
from features.columns import TS_DTYPE
from features.contract import clean_events
from serving import faults
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc, utcnow
from serving.db.events import EventRepository
from serving.db.models import Campaign, DetectionRun
from serving.db.runs import RunRepository
from serving.errors import NotFound, Unavailable
from serving.history_state import HistoryState, HistoryStates
from serving.io import (
    ACCOUNT_COLUMNS,
    ENGAGEMENT_COLUMNS,
    ENGAGEMENT_EXTRA,
    POST_COLUMNS,
    POST_EXTRA,
    accounts_output,
    engagements_output,
    posts_output,
    write_scored,
)
from serving.manifest import StoreFault
from serving.reputation import ReputationMemory
from serving.schemas import DetectionOut
from serving.scorers import ActiveModels, VersionedScorer
from serving.spark_handoff import SparkHandoff
from serving.statuses import RunStatus
from serving.store import EventStore
from serving.verdicts import events_hash

# what a run's verdicts hold beyond the contract's engagements columns: settling hashes events by time
RUN_ENGAGEMENT_EXTRA = ("ts",)
_RUNS_KEPT = 4
log = logging.getLogger("cpeguard.shadow")


@dataclass(frozen=True)
class ScoredRun:
    """A finished run's scored window, held in memory for the requests that follow it.

    ``verdicts`` are the engagements exactly as written to the run's
    ``engagements.parquet`` (id columns as plain strings), in scoring order;
    ``campaigns`` is the price table the run scored with.
    """

    run_id: str
    scorer: VersionedScorer
    verdicts: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    campaigns: pd.DataFrame
    # accounts, farm devices and IPs, and group members confirmed on structural evidence alone, and
    # when (``detectors.memory.confirmed_subjects``)
    confirmed: pd.DataFrame | None = None


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
        # days around a run's period read as context (``detectors.history``, ``context_ranges``); 0: none
        self.history_days = history_days
        # large runs are scored on Spark when a master is configured
        self.spark = spark
        # accounts earlier runs and reviews established (``serving.reputation``); None: no memory
        self.reputation = reputation
        # lookbacks prepared by earlier runs, read by later ones (``serving.history_state``); None: none
        self.history_states = history_states
        self._run_lock = threading.Lock()
        self._scored: OrderedDict[str, ScoredRun] = OrderedDict()
        self._cache: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._cache_lock = threading.Lock()
        # called with a run's scored window when it is written, before the run is marked done
        self.done_listeners: list[Callable[[ScoredRun], None]] = []
        self._run_models: dict[str, ActiveModels] = {}
        self._executing: set[str] = set()  # runs this process created and has not finished

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
        run_id = self._create(start=start, end=end, n_events=n_events, actor=actor)
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

        Runs one inline over exactly the period when none covers it or events arrived after it.
        """
        with self._run_lock:
            reusable = self.reusable_run(start=start, end=end, campaign_id=campaign_id)
            if reusable is not None:
                return reusable
            n_events = self.events.count_events(start=start, end=end)
            run_id = self._create(start=start, end=end, n_events=n_events, actor=actor)
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
        since = [
            self.events.last_batch_id(start=start, end=end, campaign_id=campaign_id),
            *(self.events.last_batch_id(start=a, end=b) for a, b in self.context_ranges(start, end)),
        ]
        return run.id if max(since) <= run.last_batch_id else None

    def context_ranges(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of the store a run over ``[start, end)`` reads as context (none without a lookback).

        ``history_days`` before the period and as many after it, as far as the store
        already holds them: settled after its events are in, a period's verdicts are the
        same however it is cut (a day's run sees the days that follow it, as a run over
        the whole period does). A settlement made before later events arrive decides on
        what has arrived.
        """
        if self.history_days <= 0:
            return []
        days = timedelta(days=self.history_days)
        return [(start - days, start), (end, end + days)]

    def scored(self, run_id: str) -> ScoredRun | None:
        """The run's scored window if this process scored it recently (None after a restart)."""
        with self._cache_lock:
            return self._scored.get(run_id)

    def verdicts(self, run_id: str) -> pd.DataFrame:
        """The per-event verdicts of a finished run: in memory, or read once from its folder."""
        with self._cache_lock:
            if run_id in self._scored:
                return self._scored[run_id].verdicts
            if run_id in self._cache:
                self._cache.move_to_end(run_id)
                return self._cache[run_id]
        frame = pd.read_parquet(self.runs_dir / run_id / "engagements.parquet")
        with self._cache_lock:
            self._cache[run_id] = frame
            while len(self._cache) > _RUNS_KEPT:
                self._cache.popitem(last=False)
        return frame

    def accounts(self, run_id: str) -> pd.DataFrame:
        """The accounts a finished run scored."""
        kept = self.scored(run_id)
        if kept is not None:
            return kept.accounts
        return pd.read_parquet(self.runs_dir / run_id / "accounts.parquet")

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
            with self._cache_lock:
                self._executing.discard(run_id)

    def _execute(self, run_id: str) -> None:
        run = self.runs.run(run_id)
        if run is None:
            return
        self.runs.update_run(run_id, status=RunStatus.RUNNING, step="read")
        try:
            scored, summary, input_hash = self._score(run)
        except Exception as error:
            self.runs.update_run(
                run_id,
                status=RunStatus.FAILED,
                error=f"{type(error).__name__}: {error}"[:2000],
                finished_at=utcnow(),
            )
            return
        self._keep(scored)
        self._remember(scored)
        # before "done" is visible, so the first settlement after it finds the caches ready
        for listener in self.done_listeners:
            try:
                listener(scored)
            except Exception:  # a listener only prepares caches; the verdicts are written
                logging.getLogger(__name__).exception("listener of detection run %s failed", run_id)
        faults.point("detection_scored")
        self.runs.update_run(
            run_id,
            status=RunStatus.DONE,
            step="done",
            progress=1.0,
            input_hash=input_hash,
            summary=json.dumps(summary, sort_keys=True),
            finished_at=utcnow(),
        )

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
        """At start-up: runs still queued or running were cut off by a restart; mark them failed."""
        return self.fail_stale()

    def stored_events(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_id: str | None = None,
        through_batch: int | None = None,
    ) -> pd.DataFrame:
        """The store's events of the period, checked against the database's index of accepted events.

        StoreFault (503) when the store holds fewer than the database accepted: a partition or
        file gone, never a decision over part of a window.
        """
        raw = self.store.read(start=start, end=end, campaign_id=campaign_id, through_batch=through_batch)
        expected = self.events.count_events(
            start=start, end=end, campaign_id=campaign_id, through_batch=through_batch
        )
        found = int(raw["event_id"].nunique()) if not raw.empty else 0
        if found < expected:
            raise StoreFault(f"the store holds {found} of the {expected} accepted events of the period")
        return raw

    def published_batch(self) -> int:
        """The last ingest batch whose files are published (one being published is waited for)."""
        with self.store.writing:
            return self.events.last_batch_id()

    def fail_stale(self) -> list[str]:
        """Runs left queued or running that this process is not executing: their owner is gone (a
        restart, or a database outage that kept the run from recording its end); mark them failed."""
        with self._cache_lock:
            mine = set(self._executing)
        failed = self.runs.fail_unfinished_runs(
            error="interrupted: the run stopped before it finished (restart or database outage); "
            "start a new run",
            keep=mine,
        )
        with self._cache_lock:
            for run_id in failed:
                self._cache.pop(run_id, None)
                self._scored.pop(run_id, None)
        return failed

    def campaigns_frame(self) -> pd.DataFrame:
        """Registered campaigns in the contract's campaigns columns (the scorer's price table)."""
        return campaigns_frame(self.campaigns.campaigns())

    def _keep(self, scored: ScoredRun) -> None:
        with self._cache_lock:
            self._scored[scored.run_id] = scored
            while len(self._scored) > _RUNS_KEPT:
                self._scored.popitem(last=False)

    def _create(self, *, start: datetime, end: datetime, n_events: int, actor: Principal) -> str:
        run_id = f"det_{uuid.uuid4().hex}"
        active = self.models()
        self.fail_stale()
        with self._cache_lock:
            self._executing.add(run_id)  # before its row exists, so no other thread finds it stale
        self._run_models[run_id] = active
        with self.runs.session() as session:
            session.add(
                DetectionRun(
                    id=run_id,
                    period_start=start,
                    period_end=end,
                    status=RunStatus.QUEUED,
                    step="",
                    progress=0.0,
                    n_events=n_events,
                    last_batch_id=self.published_batch(),
                    model_version=active.champion.version,
                    rules_version=active.champion.rules_version,
                    params=as_json(active.champion.params),
                    input_hash="",
                    summary="{}",
                    error="",
                    actor=actor.key_id,
                    created_at=utcnow(),
                )
            )
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="detection.start",
                target=run_id,
                detail={"period_start": start, "period_end": end, "n_events": n_events},
            )
        return run_id

    def _score(self, run: DetectionRun) -> tuple[ScoredRun, dict[str, int | float | str], str]:
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        active = self._run_models.pop(run.id, None) or self.models()
        raw = self.stored_events(start=start, end=end, through_batch=run.last_batch_id)
        out_dir = self.runs_dir / run.id
        out_dir.mkdir(parents=True, exist_ok=True)  # the challenger's shadow may write first
        campaigns = self.campaigns_frame()
        if raw.empty:
            write_scored(_empty_window(), out_dir, engagement_extra=RUN_ENGAGEMENT_EXTRA)
            scored = _scored_run(run.id, active.champion, _empty_window(), campaigns)
            return (
                scored,
                {"n_events": 0, "n_invalid": 0, "n_posts": 0, "n_flagged_accounts": 0},
                events_hash(raw),
            )
        events = clean_events(raw, source="event store").frame

        def progress(step: str) -> None:
            position = PROGRESS_STEPS.index(step) if step in PROGRESS_STEPS else 0
            self.runs.update_run(run.id, step=step, progress=round(position / len(PROGRESS_STEPS), 3))

        history = self._history(run, platforms=events["platform"])
        known = self._known(run, events)
        state = None
        if self.spark is not None and self.spark.takes(len(raw)):
            self.runs.update_run(run.id, step="spark", progress=0.05)
            window = self.spark.score(
                raw,
                events,
                campaigns=campaigns,
                scorer=active.champion.scorer,
                work=out_dir / "spark",
                history=history,
                known=known,
            )
        else:
            window, state = self._score_locally(events, campaigns, active, progress, history, known)
        challenger = active.challenger
        if challenger is not None and challenger.version != active.champion.version:
            self.executor.submit(
                self._shadow, run.id, events, campaigns, window.posts, active.champion, challenger
            )
        progress("write")
        write_scored(window, out_dir, engagement_extra=RUN_ENGAGEMENT_EXTRA)
        scored = _scored_run(run.id, active.champion, window, campaigns)
        summary = _summary(scored, n_events=int(events["event_id"].nunique()), window=window)
        if history is not None:
            summary["n_history_events"] = int(history["event_id"].nunique())
        if state is not None:
            summary["history_state"] = state.status
        if known is not None:
            standing = known.loc[known["score"] > 0, "subject_kind"]
            summary["n_known_accounts"] = int((standing == "account").sum())
            summary["n_known_subjects"] = len(standing)
        scored = replace(scored, confirmed=confirmed_subjects(window, params=active.champion.params))
        return scored, summary, events_hash(raw)

    def _score_locally(
        self,
        events: pd.DataFrame,
        campaigns: pd.DataFrame,
        active: ActiveModels,
        progress: Callable[[str], None],
        history: pd.DataFrame | None,
        known: pd.DataFrame | None,
    ) -> tuple[ScoredWindow, HistoryState | None]:
        """The run's window scored in this process; its lookback prepared once and kept
        (``serving.history_state``) when the service keeps history states."""
        scorer = active.champion.scorer
        state = None
        if history is not None and self.history_states is not None:
            state = self.history_states.prepared(history, scorer)
            history = state.prepared.frame
        window = scorer.score(
            events, campaigns=campaigns, progress=progress, history=history, reputation=known
        )
        return window, state

    def _history(self, run: DetectionRun, *, platforms: pd.Series) -> pd.DataFrame | None:
        """Clean events of the context around the run's period on the window's platforms (None: none).

        Context only (``context_ranges``): never decided or paid by this run. Read as the
        period is, through the run's last batch and checked against the database.
        """
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        parts = [
            self.stored_events(start=a, end=b, through_batch=run.last_batch_id)
            for a, b in self.context_ranges(start, end)
        ]
        parts = [part for part in parts if not part.empty]
        if not parts:
            return None
        raw = pd.concat(parts, ignore_index=True)
        history = clean_events(raw, source="event store (history)").frame
        same = history["platform"].astype("str").isin(set(platforms.astype("str").unique()))
        return history.loc[same.to_numpy()]

    def _known(self, run: DetectionRun, events: pd.DataFrame) -> pd.DataFrame | None:
        """The window's accounts, devices, IPs and groups earlier runs and reviews established
        (``serving.reputation``)."""
        if self.reputation is None:
            return None
        start = as_utc(run.period_start)
        accounts = _values(events, "user_id")
        subjects = {"account": accounts, "group": accounts}
        subjects.update({"device": _values(events, "device_id"), "ip": _values(events, "ip")})
        return self.reputation.known(subjects, start=start, context_start=self._context_start(run))

    def _context_start(self, run: DetectionRun) -> datetime:
        """Where the run's context starts (its period's start without a lookback)."""
        start, end = as_utc(run.period_start), as_utc(run.period_end)
        return min((a for a, _ in self.context_ranges(start, end)), default=start)

    def reputation_changed(self, run: DetectionRun) -> bool:
        """Whether a review verdict, a reopened case or a later run changed, after ``run`` was
        created, reputation the run read or would read about its own accounts (or any device or IP:
        the run keeps no list of them). Such a run is not reused: it would ignore a newer verdict."""
        if self.reputation is None:
            return False
        changed = self.reputation.repository.changed_since(
            as_utc(run.created_at),
            runs_until=self._context_start(run),
            reviews_until=as_utc(run.period_start),
        )
        if changed.empty:
            return False
        if not changed["subject_kind"].isin(["account", "group"]).all():
            return True
        mine = set(self.accounts(run.id)["account_id"].astype("str"))
        return bool(changed["subject_id"].astype("str").isin(mine).any())

    def _shadow(
        self,
        run_id: str,
        events: pd.DataFrame,
        campaigns: pd.DataFrame,
        decided: pd.DataFrame,
        champion: VersionedScorer,
        challenger: VersionedScorer,
    ) -> None:
        """Score a run again with the challenger; log and keep per-creator payout differences."""
        try:
            diff = shadow_differences(decided, challenger.scorer.score(events, campaigns=campaigns).posts)
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


def _values(events: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of a contract column (none when the column is absent)."""
    if column not in events:
        return []
    return events[column].dropna().astype("str").unique().tolist()


# the outputs' columns that are not text, with their kinds (an empty window still passes the checks)
_OUTPUT_KINDS: dict[str, str | pd.DatetimeTZDtype] = {
    **dict.fromkeys(
        ("risk", "unit_price", "payable", "claimed_amount", "held_amount", "withheld_amount"), "float64"
    ),
    **dict.fromkeys(("copies", "claimed", "valid"), "int64"),
    **dict.fromkeys(("invalid", "held", "flagged"), "bool"),
    "ts": TS_DTYPE,
}


def _empty_window() -> ScoredWindow:
    """What a run over a period without events decided: nothing, in the outputs' columns and kinds."""

    def empty(columns: tuple[str, ...]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=_OUTPUT_KINDS.get(c, "str")) for c in columns})

    return ScoredWindow(
        engagements=empty((*ENGAGEMENT_COLUMNS, *ENGAGEMENT_EXTRA, *RUN_ENGAGEMENT_EXTRA)),
        posts=empty((*POST_COLUMNS, *POST_EXTRA)),
        accounts=empty(ACCOUNT_COLUMNS),
        detections=(),
    )


def _scored_run(
    run_id: str, scorer: VersionedScorer, window: ScoredWindow, campaigns: pd.DataFrame
) -> ScoredRun:
    """The run's window as written, id columns decoded to plain strings as Parquet holds them."""
    verdicts = engagements_output(window.engagements, extra=RUN_ENGAGEMENT_EXTRA)
    for column in verdicts.columns:
        if isinstance(verdicts[column].dtype, pd.CategoricalDtype):
            verdicts[column] = verdicts[column].astype("str")
    return ScoredRun(
        run_id=run_id,
        scorer=scorer,
        verdicts=verdicts,
        posts=posts_output(window.posts),
        accounts=accounts_output(window.accounts),
        campaigns=campaigns,
    )


def _summary(scored: ScoredRun, *, n_events: int, window: ScoredWindow) -> dict[str, int | float | str]:
    decisions = scored.posts["decision"].value_counts()
    summary: dict[str, int | float | str] = {
        "n_events": n_events,
        "n_engagements": len(scored.verdicts),
        "n_invalid": int(scored.verdicts["invalid"].sum()),
        "n_posts": len(scored.posts),
        "n_flagged_accounts": int(scored.accounts["flagged"].sum()),
        **{f"posts_{k}": int(v) for k, v in decisions.items()},
    }
    if window.unavailable_signals:
        summary["signals_not_used"] = "; ".join(window.unavailable_signals)
    return summary


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


def to_decimal(value: float) -> Decimal:
    """A float amount as cents."""
    return Decimal(repr(round(float(value), 6))).quantize(Decimal("0.01"))
