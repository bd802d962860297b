"""The MLflow pyfunc wrapper of the window scorer and its loader (imported only where MLflow is wanted)."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from detectors.model import WindowScorer


class ScorerModel(PythonModel):  # type: ignore[misc]
    """``cpeguard-scorer`` as registered: raw contract events in, one verdict per engagement out."""

    def __init__(self, scorer: WindowScorer) -> None:
        self.scorer = scorer

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Per distinct engagement: event_id, risk, invalid, reason."""
        return self.scorer.predict(pd.DataFrame(model_input))


class NotAScorer(TypeError):
    """The model at a URI loads, but is not a cpeguard scorer."""


def load_scorer(model_uri: str, *, tracking_uri: str) -> WindowScorer:
    """The window scorer at ``model_uri`` (``models:/name@alias``, ``models:/name/3``, ``runs:/...``).

    The batch CLI and the service's registry both load through here. Raises
    ``NotAScorer`` when the model is another kind of pyfunc; MLflow's own errors
    (no such model, unreadable store) pass through.
    """
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    wrapped = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not isinstance(wrapped, ScorerModel):
        raise NotAScorer(f"{model_uri} is not a cpeguard scorer")
    return wrapped.scorer
