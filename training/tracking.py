"""Every MLflow call of training: the store, runs of a week, the registry and its aliases."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from detectors.mlflow_model import ScorerModel
from detectors.model import WindowScorer

DEFAULT_ROOT = Path("mlruns")
EXPERIMENT = "cpeguard-weekly"
MODEL_NAME = "cpeguard-scorer"
CHAMPION = "champion"
CHALLENGER = "challenger"
PROFILE_ARTIFACT = "drift/feature_profile.json"
# the registered model needs only what cpeguard itself needs; listing it skips MLflow's slow inference
PIP_REQUIREMENTS = ("numpy", "pandas", "scipy", "scikit-learn", "pyod", "networkx", "pyarrow")


def tracking_uri(uri: str | None = None, *, root: Path = DEFAULT_ROOT) -> str:
    """``uri`` if given, else an SQLite store in ``root`` (artifacts beside it)."""
    if uri:
        return uri
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def artifact_location(uri: str) -> str | None:
    """Artifacts beside an SQLite store (``<folder>/artifacts``); the server's default otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()


@dataclass(frozen=True)
class Champion:
    """The version an alias points at, and its scorer."""

    version: str
    run_id: str
    scorer: WindowScorer


class Tracker:
    """One MLflow store: the weekly experiment and the ``cpeguard-scorer`` registered model."""

    def __init__(self, uri: str, *, experiment: str = EXPERIMENT, model_name: str = MODEL_NAME) -> None:
        self.uri = uri
        self.model_name = model_name
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id
            if found is not None
            else self.client.create_experiment(experiment, artifact_location=artifact_location(uri))
        )

    # runs ----------------------------------------------------------------------------------
    def runs(self, *, week: str | None = None, max_results: int = 500) -> list[Run]:
        """Finished runs of the weekly experiment (of one ISO week if given), newest first."""
        query = "attributes.status = 'FINISHED'"
        if week is not None:
            query += f" and tags.week = '{week}'"
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=query,
                order_by=["attributes.start_time DESC"],
                max_results=max_results,
            )
        )

    def weeks_with_runs(self) -> set[str]:
        """Every ISO week that has a finished run."""
        return {run.data.tags["week"] for run in self.runs() if "week" in run.data.tags}

    def previous_profile(self, week: str) -> tuple[str, dict[str, Any]] | None:
        """(week, feature profile) of the latest earlier week that logged one."""
        for run in self.runs():
            earlier = run.data.tags.get("week", "")
            if earlier and earlier < week:
                try:
                    with tempfile.TemporaryDirectory() as folder:
                        path = self.client.download_artifacts(run.info.run_id, PROFILE_ARTIFACT, folder)
                        return earlier, json.loads(Path(path).read_text())
                except (MlflowException, OSError):
                    continue
        return None

    @contextmanager
    def start_run(self, *, week: str, tags: Mapping[str, str]) -> Iterator[str]:
        """An active run tagged with its week; yields the run id."""
        with mlflow.start_run(
            experiment_id=self.experiment_id, run_name=f"weekly-{week}", tags={"week": week, **tags}
        ) as run:
            yield run.info.run_id

    # logging inside the active run ---------------------------------------------------------
    @staticmethod
    def log_params(params: Mapping[str, object]) -> None:
        """Parameters of the active run (values rendered as text, MLflow's limit of 6000 chars)."""
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})

    @staticmethod
    def log_metrics(metrics: Mapping[str, float]) -> None:
        """Numeric metrics of the active run (NaN is skipped: MLflow stores it but charts choke)."""
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})

    @staticmethod
    def set_tags(tags: Mapping[str, str]) -> None:
        """Tags of the active run."""
        mlflow.set_tags(dict(tags))

    @staticmethod
    def log_artifacts(folder: Path) -> None:
        """Every file under ``folder`` as artifacts of the active run (same relative paths)."""
        mlflow.log_artifacts(str(folder))

    def log_scorer(self, scorer: WindowScorer, *, example: pd.DataFrame) -> str:
        """Log and register the scorer as a pyfunc model; returns the new version number."""
        output = scorer.predict(example)
        info = mlflow.pyfunc.log_model(
            name="scorer",
            python_model=ScorerModel(scorer),
            signature=infer_signature(example, output),
            input_example=example,
            registered_model_name=self.model_name,
            pip_requirements=list(PIP_REQUIREMENTS),
        )
        version = info.registered_model_version
        if version is None:
            raise RuntimeError(f"model {self.model_name} was logged but not registered")
        return str(version)

    # registry ------------------------------------------------------------------------------
    def alias_version(self, alias: str) -> str | None:
        """The version an alias points at, or None."""
        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException:
            return None

    def load(self, alias: str) -> Champion | None:
        """The scorer an alias points at, or None when there is no such alias."""
        try:
            found = self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None
        model = mlflow.pyfunc.load_model(f"models:/{self.model_name}@{alias}")
        wrapped = model.unwrap_python_model()
        if not isinstance(wrapped, ScorerModel):
            raise TypeError(f"models:/{self.model_name}@{alias} is not a cpeguard scorer")
        return Champion(version=str(found.version), run_id=str(found.run_id), scorer=wrapped.scorer)

    def set_alias(self, alias: str, version: str) -> None:
        """Point an alias at a version (moving it off any other)."""
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def tag_version(self, version: str, tags: Mapping[str, str]) -> None:
        """Tags of a registered version (the gate decision and its reason)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, value)
