"""Plots of a training run, written as PNG files (matplotlib's Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(
    folder: Path,
    *,
    scores: pd.DataFrame,
    recall: pd.DataFrame,
    drift: pd.DataFrame | None,
) -> list[Path]:
    """PR curve, per-scheme recall (candidate vs champion), score distributions and drift, as PNGs.

    Returns the files written; none when matplotlib is not installed.
    """
    try:
        plt = _pyplot()
    except ImportError:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        _pr_curve(plt, scores, folder / "pr_curve.png"),
        _recall(plt, recall, folder / "recall_by_scheme.png"),
        _distributions(plt, scores, folder / "score_distributions.png"),
    ]
    if drift is not None and not drift.empty:
        written.append(_drift(plt, drift, folder / "drift_psi.png"))
    return written


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _pr_curve(plt: Any, scores: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4))
    y = scores["is_fraud"].to_numpy(dtype=bool)
    if 0 < y.sum() < len(y):
        precision, recall, _ = precision_recall_curve(y, scores["risk"].to_numpy())
        ax.plot(recall, precision)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the fixed suite", ylim=(0, 1.02))
    return _save(plt, fig, path)


def _recall(plt: Any, recall: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    recall.plot.bar(ax=ax, ylim=(0, 1.05), rot=30)
    ax.set(ylabel="recall", title="Recall per scheme on the fixed suite")
    return _save(plt, fig, path)


def _distributions(plt: Any, scores: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 41)
    for label, part in (("honest", scores[~scores["is_fraud"]]), ("fraud", scores[scores["is_fraud"]])):
        ax.hist(part["risk"], bins=bins, alpha=0.6, label=label, log=True)
    ax.set(xlabel="risk", ylabel="engagements", title="Risk by truth on the fixed suite")
    ax.legend()
    return _save(plt, fig, path)


def _drift(plt: Any, drift: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    drift.set_index("feature")["psi"].plot.barh(ax=ax)
    ax.axvline(0.1, color="orange", linestyle="--")
    ax.axvline(0.25, color="red", linestyle="--")
    ax.set(xlabel="PSI vs previous week", title="Feature drift")
    return _save(plt, fig, path)
