"""Plain configuration of the settlement service, built by the entry layer from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from detectors.params import ScoringParams


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the API needs to run; serving never reads Settings itself."""

    home: Path
    database_url: str | None = None
    params: ScoringParams = field(default_factory=ScoringParams)
    signoff_withheld_share: float = 0.3
    # account cases whose clear releases nothing and whose money is below this are decided by policy
    review_auto_decide_below: float = 5.0
    # share of those policy-decided cases queued anyway, for label quality (marked as a sample)
    review_sample_share: float = 0.02
    # share of those policy-decided cases whose risk lies near the cut (detectors.policy.near_cut),
    # and of the engaging accounts near it the run did not flag, queued as an uncertain sample
    # (active learning; 0: none, the policy-decided ones are audit-sampled like the rest)
    review_uncertain_share: float = 0.10
    # a group case joins a seller group found before when their shared members are at least this
    # share of the smaller member set (and two or more; ``serving.review.groups``)
    review_group_overlap: float = 0.5
    max_body_bytes: int = 50 * 1024 * 1024
    max_batch_events: int = 50_000
    # an uploaded file is decoded in batches and refused (413) past either limit
    max_upload_rows: int = 2_000_000
    max_upload_decoded_bytes: int = 512 * 1024 * 1024
    sync_detection_max_events: int = 200_000
    # days before a detection run's period read from the event store as context (0: none)
    history_days: int = 28
    # a process renews the lease of each detection run it executes this often, and another process
    # marks a run failed once its lease is this old without renewal (``serving.run_leases``)
    run_heartbeat_s: float = 5.0
    run_lease_s: float = 60.0
    # a settlement waits at most this long for a detection run of its period that another process
    # (or thread) is running, then runs its own (``DetectionService.current_run``)
    run_wait_s: float = 600.0
    # detection runs of at least spark_from_events events are scored on this Spark master
    # (None: always in this process) by running the command ``spark_submit``
    spark_master: str | None = None
    spark_from_events: int = 10_000_000
    spark_submit: tuple[str, ...] = ()
    # a remembered account's reputation halves every this many days (``serving.reputation``)
    reputation_half_life_days: float = 30.0
    model_version: str = "window-scorer-0.1.0"
    # the MLflow store of the registered scorer; None: cold scoring only (tests, no registry)
    tracking_uri: str | None = None
    registered_model: str = "cpeguard-scorer"
    model_poll_s: float = 60.0
    # a bearer token /metrics asks for; None: /metrics is open (bind the port to the scraper only)
    metrics_token: str | None = None
    # a fault point of serving.faults armed in this process (the fault-injection tests only)
    fault: str | None = None

    @property
    def resolved_database_url(self) -> str:
        """The database URL; an SQLite file under ``home`` when none is given."""
        return self.database_url or f"sqlite:///{(self.home / 'cpeguard.db').resolve()}"

    @property
    def events_dir(self) -> Path:
        """Root of the partitioned Parquet event store."""
        return self.home / "events"

    @property
    def history_states_dir(self) -> Path:
        """Where detection runs keep the lookbacks they prepared (``serving.history_state``)."""
        return self.home / "history_states"

    @property
    def runs_dir(self) -> Path:
        """Where detection runs keep their per-event verdicts."""
        return self.home / "runs"
