"""Run independent window detectors side by side in threads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import pandas as pd

from detectors.base import Detection

Task = tuple[str, Callable[[pd.DataFrame], Detection]]


def run_detectors(
    tasks: Sequence[Task],
    window: pd.DataFrame,
    *,
    workers: int,
    progress: Callable[[str], None] | None = None,
) -> list[Detection]:
    """Each task's detection of ``window``, in task order.

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
    results: dict[int, Detection] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detector") as pool:
        pending: dict[Future[Detection], int] = {
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
    tasks: Sequence[Task], window: pd.DataFrame, *, progress: Callable[[str], None] | None
) -> list[Detection]:
    results = []
    for name, detector in tasks:
        if progress is not None:
            progress(name)
        results.append(detector(window))
    return results
