"""Plots of a training run, written as PNG files.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot: no
display is needed and the process's backend is left alone (a notebook that trains a store and
then draws inline keeps its inline backend).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve


class PlotError(RuntimeError):
    """A plot of the training run could not be drawn (the run fails rather than log without it)."""


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots()


def write_plots(
    folder: Path,
    *,
    scores: pd.DataFrame,
    recall: pd.DataFrame,
    drift: pd.DataFrame | None,
) -> list[Path]:
    """PR curve, per-scheme recall (candidate vs champion), score distributions and drift, as PNGs.

    Returns the files written. Raises ``PlotError`` naming the plot when one cannot be drawn
    (matplotlib missing included): plots are part of every run, never silently skipped.
    """
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as error:
        raise PlotError(f"cannot draw the training plots: matplotlib is not importable ({error})") from error
    folder.mkdir(parents=True, exist_ok=True)
    plots: list[tuple[Callable[[Any, Path], Path], Any, str]] = [
        (_pr_curve, scores, "pr_curve.png"),
        (_recall, recall, "recall_by_scheme.png"),
        (_distributions, scores, "score_distributions.png"),
    ]
    if drift is not None and not drift.empty:
        plots.append((_drift, drift, "drift_psi.png"))
    written = []
    for draw, frame, name in plots:
        try:
            path = draw(frame, folder / name)
        except Exception as error:
            raise PlotError(f"cannot draw plot {name}: {type(error).__name__}: {error}") from error
        if not path.is_file() or path.stat().st_size == 0:
            raise PlotError(f"plot {name} was not written to {path}")
        written.append(path)
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def _pr_curve(scores: pd.DataFrame, path: Path) -> Path:
    fig, ax = _figure((5, 4))
    y = scores["is_fraud"].to_numpy(dtype=bool)
    if 0 < y.sum() < len(y):
        precision, recall, _ = precision_recall_curve(y, scores["risk"].to_numpy())
        ax.plot(recall, precision)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the fixed suite", ylim=(0, 1.02))
    return _save(fig, path)


def _recall(recall: pd.DataFrame, path: Path) -> Path:
    fig, ax = _figure((6, 4))
    recall.plot.bar(ax=ax, ylim=(0, 1.05), rot=30)
    ax.set(ylabel="recall", title="Recall per scheme on the fixed suite")
    return _save(fig, path)


def _distributions(scores: pd.DataFrame, path: Path) -> Path:
    fig, ax = _figure((6, 4))
    bins = np.linspace(0, 1, 41)
    for label, part in (("honest", scores[~scores["is_fraud"]]), ("fraud", scores[scores["is_fraud"]])):
        ax.hist(part["risk"], bins=bins, alpha=0.6, label=label, log=True)
    ax.set(xlabel="risk", ylabel="engagements", title="Risk by truth on the fixed suite")
    ax.legend()
    return _save(fig, path)


def _drift(drift: pd.DataFrame, path: Path) -> Path:
    fig, ax = _figure((6, 4))
    drift.set_index("feature")["psi"].plot.barh(ax=ax)
    ax.axvline(0.1, color="orange", linestyle="--")
    ax.axvline(0.25, color="red", linestyle="--")
    ax.set(xlabel="PSI vs previous week", title="Feature drift")
    return _save(fig, path)
