"""CI runs the weekly model report on a small store built by the test suite (issue 5, Notebook)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from training.pipeline import TrainingResult

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "weekly_model_report.ipynb"


def _texts(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed as text (stream, text/plain, text/html)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.extend(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))
    return "\n".join(parts)


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.e2e
def test_report_notebook_runs_on_the_suites_store_and_draws_its_runs(
    store: str, first: TrainingResult, worse: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPEGUARD_REPORT_TRACKING_URI", store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    text = [_texts(c) for c in cells]
    # it read our store, not its own demonstration store
    assert f"store: {store}; 2 runs over 2 weeks" in text[0]
    runs_table = text[1]
    for result in (first, worse):
        assert result.week in runs_table and result.alias in runs_table
    assert "labels_verdicts" in runs_table and "stacker_fitted" in runs_table
    images = [_images(c) for c in cells]
    # metrics per week, recall per scheme, drift (W46 against W45), money backtest
    assert images[2:6] == [1, 1, 1, 1], images
    assert "click_farm" in text[3]  # the recall table under its plot
    assert "2026-W46" in text[4] and "no week has a previous week" not in text[4]
    assert "backtest_would_pay" in text[5] and "no settlements were backtested" not in text[5]
    # the store's weeks had no verdicts: no operating point was measured on held-out verdicts
    assert images[6] == 0 and "no run measured an operating point" in text[6]
