"""The champion and challenger from the MLflow model registry, swapped into detection at run time."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from serving.auth import Principal
from serving.scorers import COLD, REGISTRY, ActiveModels, VersionedScorer

if TYPE_CHECKING:
    from serving.config import ServiceConfig
    from serving.detection import DetectionService

log = logging.getLogger("cpeguard.models")
CHAMPION = "champion"
CHALLENGER = "challenger"


def store_exists(uri: str) -> bool:
    """Whether an MLflow store is there to read (an SQLite file that does not exist is not created)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    return True


class Registry:
    """Reads aliases and loads scorers of one registered model (MLflow imported on first use)."""

    def __init__(self, uri: str, *, model_name: str) -> None:
        self.uri = uri
        self.model_name = model_name

    def _client(self) -> object:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def versions(self) -> dict[str, str]:
        """Alias -> version of the champion and challenger (absent aliases left out)."""
        if not store_exists(self.uri):
            return {}
        from mlflow.exceptions import MlflowException

        client = self._client()
        found = {}
        for alias in (CHAMPION, CHALLENGER):
            try:
                found[alias] = str(client.get_model_version_by_alias(self.model_name, alias).version)  # type: ignore[attr-defined]
            except MlflowException:
                continue
        return found

    def load(self, version: str) -> VersionedScorer:
        """The scorer of one registered version, named ``<model>/<version>``."""
        from detectors.mlflow_model import load_scorer

        scorer = load_scorer(f"models:/{self.model_name}/{version}", tracking_uri=self.uri)
        return VersionedScorer(version=f"{self.model_name}/{version}", scorer=scorer)


class ModelManager:
    """Keeps detection on the registry's champion (cold scoring without one) and the challenger beside it.

    The active models are one immutable ``ActiveModels`` on ``detection.active``: a reload
    builds the new pair and swaps it in with one assignment, so a run, a settlement or
    ``/readyz`` reading it sees either the old pair or the new one, never half of each.
    """

    def __init__(
        self, *, detection: DetectionService, cold: VersionedScorer, registry: Registry | None
    ) -> None:
        self.detection = detection
        self.cold = cold
        self.registry = registry
        self._loaded: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if detection.active is None:
            detection.active = ActiveModels(champion=cold, challenger=None, source=COLD)

    def active(self) -> ActiveModels:
        """The models detection uses now."""
        return self.detection.models()

    def reload(self, *, actor: Principal | None = None) -> ActiveModels:
        """Load what the aliases point at now (only what changed); errors leave the models as they were.

        Every change is audited (actor ``system`` when polling found it), and so is an
        admin's reload that found nothing new.
        """
        with self._lock:
            wanted = self.registry.versions() if self.registry is not None else {}
            before = self.active()
            if wanted == self._loaded:
                if actor is not None:
                    self._audit(actor, before, before)
                return before
            assert self.registry is not None or not wanted
            after = ActiveModels(
                champion=self.registry.load(wanted[CHAMPION])
                if self.registry is not None and CHAMPION in wanted
                else self.cold,
                challenger=self.registry.load(wanted[CHALLENGER])
                if self.registry is not None
                and CHALLENGER in wanted
                and wanted[CHALLENGER] != wanted.get(CHAMPION)
                else None,
                source=REGISTRY if CHAMPION in wanted else COLD,
            )
            self.detection.active = after
            self._loaded = wanted
            log.info(
                "models: champion %s, challenger %s",
                after.champion.version,
                after.challenger.version if after.challenger else "none",
            )
            self._audit(actor, before, after)
            return after

    def _audit(self, actor: Principal | None, before: ActiveModels, after: ActiveModels) -> None:
        trail = self.detection.audit_trail
        with trail.session() as session:
            trail.record(
                session,
                actor=actor.key_id if actor is not None else "system",
                role=actor.role if actor is not None else "system",
                action="models.reload",
                target=self.registry.model_name if self.registry is not None else "cold",
                detail={
                    "champion": after.champion.version,
                    "challenger": _version(after.challenger),
                    "previous_champion": before.champion.version,
                    "previous_challenger": _version(before.challenger),
                },
            )

    def start_polling(self, interval_s: float) -> None:
        """Reload whenever an alias moves, checking every ``interval_s`` seconds (0: never)."""
        if interval_s <= 0 or self.registry is None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.reload()
                except Exception:  # a registry hiccup must not stop the service; try again next time
                    log.exception("models: reload from the registry failed")

        self._thread = threading.Thread(target=loop, name="model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _version(scorer: VersionedScorer | None) -> str | None:
    return scorer.version if scorer is not None else None


def start_models(config: ServiceConfig, *, detection: DetectionService) -> ModelManager:
    """Load the champion (and challenger) at start and poll for alias moves; cold scoring without them.

    A registry that cannot be read at start leaves the service on cold scoring (logged);
    ``POST /v1/models/reload`` tries again.
    """
    registry = (
        Registry(config.tracking_uri, model_name=config.registered_model) if config.tracking_uri else None
    )
    manager = ModelManager(detection=detection, cold=detection.cold, registry=registry)
    try:
        manager.reload()
    except Exception:
        log.exception("models: could not load from the registry at %s; scoring cold", config.tracking_uri)
    manager.start_polling(config.model_poll_s)
    return manager
