"""Running a window's detectors: each bound to its params and the window's context, on the rows it
reads when history was given (the window's own, the recent ones, or all but the honest context),
the costliest first, in parallel past a size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import Audiences
from detectors.base import Detection
from detectors.chance import WindowChance
from detectors.history import history_rows
from detectors.lookback import CONTEXT_COLUMN
from detectors.parallel import Found, run_detectors
from detectors.params import ScoringParams
from detectors.platform_verdicts import verdicts_in
from detectors.registry import DETECTORS, DetectorSpec, WindowContext
from detectors.strata import WindowDetector, per_platform
from features.arrays import codes, distinct

if TYPE_CHECKING:
    from detectors.fitted import FittedState


def window_context(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    posts: pd.DataFrame | None,
    fitted: FittedState | None,
    reputation: pd.DataFrame | None,
    chance: WindowChance | None,
) -> WindowContext:
    """The ``WindowContext`` of ``engagements`` with the audience params of ``params``."""
    return WindowContext(
        engagements,
        posts=posts,
        fitted=fitted,
        audience=params.audience,
        reputation=reputation,
        chance=chance,
    )


def _task(
    spec: DetectorSpec,
    params: ScoringParams,
    context: WindowContext,
    view: tuple[WindowContext, npt.NDArray[np.int64]] | None,
) -> WindowDetector:
    """The detector of ``spec`` bound to its params and the window's context.

    ``view`` is the context of the rows the detector reads and their positions
    when it reads fewer than all (``_views``): it runs on those rows only, and
    finds nothing on the others.
    """

    def detect(engagements: pd.DataFrame) -> Detection:
        # a shard of a split platform: what the whole platform's graph showed (the per-platform tests
        # and the ring test, ``WindowChance.verdicts``)
        found = context.platform_verdicts(engagements, spec.name)
        if found is not None:
            return verdicts_in(engagements, found=found)
        return spec.run(engagements, params.detectors.of(spec.name), context)

    task = per_platform(detect) if spec.per_platform else detect
    if view is None:
        return task
    own, at = view
    alone = _task(spec, params, own, None)
    return lambda union: _to_union(alone(own.engagements), n_rows=len(union), at=at)


def _to_union(detection: Detection, *, n_rows: int, at: npt.NDArray[np.int64]) -> Detection:
    """A detection of the window's rows, at positions ``at`` of ``n_rows``, nothing elsewhere."""
    score, group = np.zeros(n_rows), np.full(n_rows, -1, dtype=np.int64)
    score[at], group[at] = detection.event_score, detection.event_group
    return Detection(detection.name, score, group, detection.groups)


View = tuple[WindowContext, npt.NDArray[np.int64]]


def _views(engagements: pd.DataFrame, *, params: ScoringParams, context: WindowContext) -> dict[str, View]:
    """The row sets detectors read when history was given: "window", the window's own rows (detectors
    that do not see history, ``spec.history``); with condensed history "recent", the window and its
    history's last ``history.recent_days`` (the detectors of ``history.recent_only``), and "core",
    every row but the honest context (the detectors not in ``history.context_for``)."""
    is_history = history_rows(engagements)
    if is_history is None:
        return {}
    masks = {"window": ~is_history}
    lookback = params.history
    if lookback.mode == "condensed" and lookback.recent_only:
        ts = engagements["ts"]
        start = ts[~is_history].min() - pd.Timedelta(days=lookback.recent_days)
        masks["recent"] = ~is_history | (ts >= start).to_numpy()
    if lookback.mode == "condensed" and CONTEXT_COLUMN in engagements:
        masks["core"] = ~engagements[CONTEXT_COLUMN].eq(True).to_numpy()
    views = {}
    for name, mask in masks.items():
        at = np.flatnonzero(mask)
        # the window's rows come first (``with_history``): a slice, not a gather of every column
        rows = slice(0, len(at)) if len(at) and at[-1] == len(at) - 1 else at
        own = engagements.iloc[rows].reset_index(drop=True)
        kept = window_context(
            own,
            params=params,
            posts=context.posts,
            fitted=context.fitted,
            reputation=context.reputation,
            chance=context.chance,
        )
        if name == "core" and lookback.core_union_audiences:
            kept = _UnionAudiences(kept, union=context, at=at)
        views[name] = (kept, at)
    return views


class _UnionAudiences(WindowContext):
    """A view's context whose audiences are the union's: each platform's audience communities as found
    on all of the platform's rows (``HistoryParams.core_union_audiences``), shared with the detectors
    that read them all (one search per platform, not one per view)."""

    def __init__(self, view: WindowContext, *, union: WindowContext, at: npt.NDArray[np.int64]):
        super().__init__(
            view.engagements,
            posts=view.posts,
            fitted=view.fitted,
            audience=view.audience,
            reputation=view.reputation,
            chance=view.chance,
        )
        self._union = union
        self._at = at

    def audiences(self, engagements: pd.DataFrame) -> Audiences:
        """The union's audiences of the platform of ``engagements`` (rows of this view: one platform's,
        or all of them when the window has one platform)."""
        if self.chance is not None or not len(engagements):
            return super().audiences(engagements)
        at = self._at[engagements.index.to_numpy()]
        return self._union.audiences(_platform_rows(self._union.engagements, at[0]))


def _platform_rows(union: pd.DataFrame, row: int) -> pd.DataFrame:
    """The rows of ``union`` that ``per_platform`` gives the detector together with row ``row``: its
    platform's (all of them when there is one platform, or no platform column)."""
    if "platform" not in union:
        return union
    stratum = codes(union["platform"])
    if len(distinct(stratum)) <= 1:
        return union
    return union.iloc[np.flatnonzero(stratum == stratum[row])]


def _view_of(spec: DetectorSpec, params: ScoringParams) -> str:
    """The name of the rows ``spec`` reads (``_views``); "" for all."""
    if not spec.history:
        return "window"
    if spec.name in params.history.recent_only:
        return "recent"
    return "" if spec.name in params.history.context_for else "core"


def raw_detections(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    context: WindowContext,
    progress: Callable[[str], None] | None,
    finish: Callable[[DetectorSpec, Detection], Found],
) -> tuple[list[DetectorSpec], dict[str, Found]]:
    """The enabled detectors and what ``finish`` makes of each one's detection of the window (before
    focus and spreading), in the detector's own thread."""
    specs = [spec for spec in DETECTORS if spec.name not in params.disabled]
    # the costliest first, so that two workers finish together
    order = sorted(range(len(specs)), key=lambda i: -specs[i].cost)
    views = _views(engagements, params=params, context=context)

    def task(spec: DetectorSpec) -> Callable[[pd.DataFrame], Found]:
        detect = _task(spec, params, context, views.get(_view_of(spec, params)))
        return lambda window: finish(spec, detect(window))

    tasks = [(specs[i].name, task(specs[i])) for i in order]
    runtime = params.runtime
    workers = runtime.workers if len(engagements) >= runtime.parallel_from_events else 1
    found = run_detectors(tasks, engagements, workers=workers, progress=progress)
    return specs, {name: detection for (name, _), detection in zip(tasks, found, strict=True)}
