"""The MLflow pyfunc wrapper of the window scorer (imported only where MLflow is wanted)."""

from __future__ import annotations

from typing import Any

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
