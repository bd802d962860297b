"""Run independent window detectors side by side in threads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

import pandas as pd

# what a task returns: a detection, or a detection with what was derived from it in the same thread
Found = TypeVar("Found")
Task = tuple[str, Callable[[pd.DataFrame], Found]]


def run_detectors(
    tasks: Sequence[Task[Found]],
    window: pd.DataFrame,
    *,
    workers: int,
    progress: Callable[[str], None] | None = None,
) -> list[Found]:
    """Each task's detection of ``window`` (what it returns), in task order.

    With ``workers`` > 1 the tasks run in that many threads of this process.
    Detectors are pure functions of the window and never write to it, and their
    heavy parts (numpy sorts and ufuncs, pandas' grouped reductions, the trees
    of the isolation forest) release the GIL, so two threads use two cores
    without copying the window or pickling results back. ``progress`` is called
    from the calling thread with each task's name as it starts (serially) or
    finishes (threads).
    """
    if workers <= 1 or len(tasks) <= 1:
        return _serial(tasks, window, progress=progress)
    results: dict[int, Found] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detector") as pool:
        pending: dict[Future[Found], int] = {
            pool.submit(detector, window): i for i, (_, detector) in enumerate(tasks)
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()
                if progress is not None:
                    progress(tasks[i][0])
    return [results[i] for i in range(len(tasks))]


def _serial(
    tasks: Sequence[Task[Found]], window: pd.DataFrame, *, progress: Callable[[str], None] | None
) -> list[Found]:
    results = []
    for name, detector in tasks:
        if progress is not None:
            progress(name)
        results.append(detector(window))
    return results
