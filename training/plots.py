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


def draw_operating_curve(
    axes: tuple[Any, Any], curve: pd.DataFrame, *, cut: float, hold_invalid_share: float, budget: float
) -> None:
    """Precision-recall on the held-out verdicts, and money withheld per cut, the operating point marked.

    ``curve`` is training/operating.py's ``money_curve`` (one row per cut and invalid
    hold tried); the cuts at the point's invalid hold are drawn.
    """
    left, right = axes
    curve = curve[curve["hold_invalid_share"] == hold_invalid_share]
    at = curve.iloc[int((curve["cut"] - cut).abs().to_numpy().argmin())]
    left.plot(curve["recall"], curve["precision"], marker=".", label="cuts tried")
    left.scatter(
        [at["recall"]], [at["precision"]], color="red", zorder=3, label=f"operating point (cut {cut:.2f})"
    )
    left.set(xlabel="recall", ylabel="precision", title="Held-out verdicts: precision-recall")
    left.legend(loc="lower left", fontsize="small")
    right.plot(curve["cut"], 100 * curve["honest_withheld"], label="honest withheld (estimate)")
    right.plot(
        curve["cut"], 100 * curve["honest_withheld_upper"], linestyle="--", label="honest withheld (bound)"
    )
    right.axhline(100 * budget, color="orange", linestyle=":", label=f"budget {budget:.2%}")
    right.axvline(cut, color="red", label="operating point")
    right.set(xlabel="invalid cut", ylabel="% of honest payout", title="Money per cut", yscale="log")
    twin = right.twinx()
    twin.plot(curve["cut"], 100 * curve["fraud_withheld"], color="green", label="fraud withheld")
    twin.set(ylabel="% of fraudulent payout withheld", ylim=(0, 102))
    right.legend(loc="upper left", fontsize="small")
    twin.legend(loc="lower right", fontsize="small")


def write_operating_plot(
    path: Path, curve: pd.DataFrame, *, cut: float, hold_invalid_share: float, budget: float
) -> Path:
    """``draw_operating_curve`` as a PNG at ``path``; raises ``PlotError`` when it cannot be drawn."""
    from matplotlib.figure import Figure

    try:
        fig = Figure(figsize=(11, 4))
        left, right = fig.subplots(1, 2)
        draw_operating_curve(
            (left, right), curve, cut=cut, hold_invalid_share=hold_invalid_share, budget=budget
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(fig, path)
    except Exception as error:
        raise PlotError(f"cannot draw plot {path.name}: {type(error).__name__}: {error}") from error
    return path
