"""The accounts some detectors find in a group, run as the scorer runs them, for a pass before scoring.

A detector that reads other detectors' accounts (``DetectorSpec.after``) gets them in the scorer from
the same run (``WindowContext.record``). Where it runs on a whole split platform instead
(``scaleout``), the accounts come from a pass over the shards that runs only those detectors, each as a
shard's scorer runs it: ``caught_accounts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from detectors.chance import WindowChance
from detectors.params import ScoringParams
from detectors.registry import BY_NAME, DETECTORS
from detectors.scorer.window import _context, _task, _view_of, _views

if TYPE_CHECKING:
    from detectors.fitted import FittedState


def read_by_others(params: ScoringParams, *, per_platform: bool = True) -> tuple[str, ...]:
    """The detectors whose accounts an enabled detector (one that runs per platform, with
    ``per_platform``) reads with ``params``, enabled themselves."""
    names = {
        name
        for spec in DETECTORS
        if spec.name not in params.disabled and (spec.per_platform or not per_platform)
        for name in spec.waits_for(params.detectors.of(spec.name))
    }
    return tuple(sorted(name for name in names if name not in params.disabled))


def caught_accounts(
    engagements: pd.DataFrame,
    names: tuple[str, ...],
    *,
    params: ScoringParams,
    posts: pd.DataFrame | None = None,
    fitted: FittedState | None = None,
    reputation: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> dict[str, pd.Index]:
    """Per detector of ``names``: the accounts (user ids) it finds in a group in ``engagements``, run
    on the rows and with the context the scorer gives it (``score_engagements``)."""
    context = _context(
        engagements, params=params, posts=posts, fitted=fitted, reputation=reputation, chance=chance
    )
    views = _views(engagements, params=params, context=context)
    for name in names:
        spec = BY_NAME[name]
        detect = _task(spec, params, context, views.get(_view_of(spec, params)))
        context.record(name, detect(engagements), engagements)
    return dict(context.caught)
