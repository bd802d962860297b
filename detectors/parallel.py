"""Run window detectors side by side in threads, each after the detectors it reads."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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
    after: Mapping[str, Collection[str]] | None = None,
) -> list[Found]:
    """Each task's detection of ``window`` (what it returns), in task order.

    With ``workers`` > 1 the tasks run in that many threads of this process.
    Detectors are pure functions of the window and never write to it, and their
    heavy parts (numpy sorts and ufuncs, pandas' grouped reductions, the trees
    of the isolation forest) release the GIL, so two threads use two cores
    without copying the window or pickling results back. ``progress`` is called
    from the calling thread with each task's name as it starts (serially) or
    finishes (threads). ``after`` names, per task, the tasks it starts after
    (those of them among ``tasks``): it reads what they found; the others start
    in task order as workers free up.
    """
    waits = _waits(tasks, after or {})
    order = _ordered(waits)
    if workers <= 1 or len(tasks) <= 1:
        return _serial(tasks, order, window, progress=progress)
    results: dict[int, Found] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detector") as pool:
        pending: dict[Future[Found], int] = {}
        queued = list(range(len(tasks)))
        while queued or pending:
            for i in [i for i in queued if waits[i] <= results.keys()]:
                queued.remove(i)
                pending[pool.submit(tasks[i][1], window)] = i
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()
                if progress is not None:
                    progress(tasks[i][0])
    return [results[i] for i in range(len(tasks))]


def _waits(tasks: Sequence[Task[Found]], after: Mapping[str, Collection[str]]) -> list[set[int]]:
    """Per task: the positions of the tasks it starts after."""
    at = {name: i for i, (name, _) in enumerate(tasks)}
    return [{at[n] for n in after.get(name, ()) if n in at and n != name} for name, _ in tasks]


def _ordered(waits: list[set[int]]) -> list[int]:
    """Task positions in task order, each moved after the tasks it waits for."""
    order: list[int] = []
    queued = list(range(len(waits)))
    while queued:
        ready = next((i for i in queued if waits[i] <= set(order)), None)
        if ready is None:
            raise ValueError("detectors wait for each other in a cycle")
        queued.remove(ready)
        order.append(ready)
    return order


def _serial(
    tasks: Sequence[Task[Found]],
    order: list[int],
    window: pd.DataFrame,
    *,
    progress: Callable[[str], None] | None,
) -> list[Found]:
    """Each task's detection, run one after another in ``order``, returned in task order."""
    results: dict[int, Found] = {}
    for i in order:
        name, detector = tasks[i]
        if progress is not None:
            progress(name)
        results[i] = detector(window)
    return [results[i] for i in range(len(tasks))]
