"""Run independent window detectors side by side in forked worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from detectors.base import Detection

Task = tuple[str, Callable[[pd.DataFrame], Detection]]

# Set only for the lifetime of one run_detectors call, so that forked workers
# inherit the window instead of receiving it pickled.
_SHARED: dict[str, Any] = {}


def run_detectors(
    tasks: Sequence[Task],
    window: pd.DataFrame,
    *,
    workers: int,
    progress: Callable[[str], None] | None = None,
) -> list[Detection]:
    """Each task's detection of ``window``, in task order.

    With ``workers`` > 1 on a platform that forks, tasks run in that many forked
    processes (each detector is a pure function of the window, so the result is
    the same); otherwise, or when forking fails, one after another here.
    """
    if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return _serial(tasks, window, progress=progress)
    _SHARED["tasks"], _SHARED["window"] = list(tasks), window
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            if progress is not None:
                progress("detectors")
            return list(pool.map(_run_task, range(len(tasks))))
    except (OSError, RuntimeError):
        return _serial(tasks, window, progress=progress)
    finally:
        _SHARED.clear()


def _serial(
    tasks: Sequence[Task], window: pd.DataFrame, *, progress: Callable[[str], None] | None
) -> list[Detection]:
    results = []
    for name, detector in tasks:
        if progress is not None:
            progress(name)
        results.append(detector(window))
    return results


def _run_task(index: int) -> Detection:
    _, detector = _SHARED["tasks"][index]
    return detector(_SHARED["window"])  # type: ignore[no-any-return]
