"""The composed window scorer: clean events in, verdicts per engagement, post and account out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.chance import WindowChance
from detectors.combine import combine
from detectors.history import (
    HISTORY_COLUMN,
    history_evidence,
    history_rows,
    own_categories,
    window_only,
    window_rows,
)
from detectors.lookback import (
    CONTEXT_COLUMN,
)
from detectors.parallel import Found, run_detectors
from detectors.params import PolicyParams, ScoringParams
from detectors.platform_verdicts import verdicts_in
from detectors.policy import (
    NOT_ACCOUNT_FAULT_REASONS,
    decide_posts,
    flag_accounts,
    held_engagements,
    unit_prices,
)
from detectors.registry import (
    DETECTORS,
    STRUCTURAL,
    WEAK,
    DetectorSpec,
    WindowContext,
    unavailable_signals,
)
from detectors.rings import ring_creators
from detectors.seller_ips import ip_part, spread_through_ips
from detectors.spread import (
    SPREAD_COLUMNS,
    AccountRows,
    account_rows,
    spread_part,
    spread_to_accounts,
    weight_by_focus,
)
from detectors.strata import per_platform

if TYPE_CHECKING:
    from detectors.fitted import FittedState

WindowDetector = Callable[[pd.DataFrame], Detection]


@dataclass(frozen=True)
class ScoredWindow:
    """Everything one scoring run decided, ready to write out."""

    engagements: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    detections: tuple[Detection, ...]
    unavailable_signals: tuple[str, ...] = field(default_factory=tuple)


def _context(
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
        kept = _context(
            own,
            params=params,
            posts=context.posts,
            fitted=context.fitted,
            reputation=context.reputation,
            chance=context.chance,
        )
        views[name] = (kept, at)
    return views


def _view_of(spec: DetectorSpec, params: ScoringParams) -> str:
    """The name of the rows ``spec`` reads (``_views``); "" for all."""
    if not spec.history:
        return "window"
    if spec.name in params.history.recent_only:
        return "recent"
    return "" if spec.name in params.history.context_for else "core"


def _raw_detections(
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


def _finished(
    spec: DetectorSpec,
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    context: WindowContext,
    rows: AccountRows,
) -> tuple[npt.NDArray[np.float64] | None, Detection]:
    """``spec``'s detection weighed by focus (``_focused``): its scores as post-level evidence (None: it
    is not post-level), and the detection spread to its accounts' other engagements when it spreads
    (``rows``: the engagements' ``account_rows``, taken once for every detector)."""
    detection = _focused(spec, detection, engagements, params=params, context=context)
    post_level = detection.event_score if spec.post_level else None
    if spec.spreads:
        spread = context.chance.spread if context.chance is not None else None
        window = None if spread is None else spread[spread["detector"] == spec.name]
        known = context.chance.creators if context.chance is not None else None
        detection = spread_to_accounts(
            detection, engagements, params=params.spread, window=window, creators=known, rows=rows
        )
    return post_level, detection


def _detect(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    context: WindowContext,
    progress: Callable[[str], None] | None,
) -> tuple[list[Detection], npt.NDArray[np.float64]]:
    """Every detector's detection of the window, and the noisy-OR of the post-level detectors' scores.

    Post-level scores are taken before group detections are spread to their
    accounts' other engagements: they say what was found on the post itself.
    """
    rows = account_rows(engagements, creators=context.chance.creators if context.chance is not None else None)
    # each detection is weighed and spread in its detector's thread, as soon as it is found
    specs, by_name = _raw_detections(
        engagements,
        params=params,
        context=context,
        progress=progress,
        finish=lambda spec, found: _finished(
            spec, found, engagements, params=params, context=context, rows=rows
        ),
    )
    detections: list[Detection] = []
    post_level_keep = np.ones(len(engagements))
    for spec in specs:
        post_level, detection = by_name.pop(spec.name)
        if post_level is not None:
            post_level_keep *= 1.0 - post_level
        detections.append(detection)
    detections = spread_through_ips(
        detections,
        engagements,
        structural=STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS,
        params=params.spread,
        creators=_creators(context),
        window=context.chance.seller_ips if context.chance is not None else None,
    )
    fitted = context.fitted
    if fitted is not None and fitted.stacker is not None:
        detections.append(fitted.stacker.detect(detections, engagements, context.account_features()))
    return detections, 1.0 - post_level_keep


def _creators(context: WindowContext) -> pd.Index | None:
    """The creators the seller-IP rule knows beyond the engagements: the posts table's, and a split
    platform's whole (``WindowChance.creators``)."""
    posts = context.posts
    known = context.chance.creators if context.chance is not None else None
    creators = (
        pd.Index(posts["creator_id"].dropna().unique())
        if posts is not None and "creator_id" in posts
        else None
    )
    if known is not None:
        creators = known if creators is None else creators.astype("str").union(known)
    return creators


def spread_parts(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    posts: pd.DataFrame | None = None,
    fitted: FittedState | None = None,
    reputation: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One shard's part of the window's spreading evidence (``detectors.spread.spread_part``) and of
    its seller-IP evidence (``detectors.seller_ips.ip_part``).

    The first of a split window's two passes (``scaleout.job``): the detectors run as
    ``score_engagements`` runs them; the parts, combined over the shards, are the
    ``spread`` and ``seller_ips`` of the ``WindowChance`` the second pass scores with. The
    seller-IP part counts the accounts caught after spreading with the shard's own evidence (the
    window's is what this pass gathers).
    """
    context = _context(
        engagements, params=params, posts=posts, fitted=fitted, reputation=reputation, chance=chance
    )
    specs, by_name = _raw_detections(
        engagements, params=params, context=context, progress=None, finish=lambda _spec, found: found
    )
    known = chance.creators if chance is not None else None
    rows = account_rows(engagements, creators=known)
    parts = [pd.DataFrame(columns=list(SPREAD_COLUMNS))]
    detections = []
    for spec in specs:
        detection = _focused(spec, by_name[spec.name], engagements, params=params, context=context)
        if spec.spreads:
            parts.append(spread_part(detection, engagements, params=params.spread, creators=known, rows=rows))
            detection = spread_to_accounts(
                detection, engagements, params=params.spread, creators=known, rows=rows
            )
        detections.append(detection)
    ips = ip_part(
        detections,
        engagements,
        structural=STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS,
        params=params.spread,
        creators=_creators(context),
    )
    return pd.concat(parts, ignore_index=True), ips


def _focused(
    spec: DetectorSpec,
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    context: WindowContext,
) -> Detection:
    """``detection`` weighted by its accounts' focus when ``spec`` is focus-weighted: over the
    window's rows, or over the whole platform when they are a shard of a split platform whose
    blocks were found on its graph (``WindowContext.platform_verdicts``)."""
    if not spec.focus_weighted:
        return detection
    found = context.platform_verdicts(engagements, spec.name)
    focus = found.focus if found is not None else None
    return weight_by_focus(detection, engagements, params=params.spread, focus=focus)


def _window_verdicts(
    engagements: pd.DataFrame,
    detections: list[Detection],
    post_level_risk: npt.NDArray[np.float64],
    *,
    params: ScoringParams,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Detection], npt.NDArray[np.float64]]:
    """The window's rows of everything scored, and their verdicts. With history, the verdicts are
    combined on the window's rows alone (``combine`` is row by row), and their evidence says what
    history added."""
    is_history = history_rows(engagements)
    if is_history is None:
        return (
            engagements,
            _combined(detections, n_events=len(engagements), policy=params.policy),
            detections,
            post_level_risk,
        )
    keep = window_rows(is_history)
    window = [window_only(d, keep) for d in detections]
    verdicts = _combined(window, n_events=int(len(is_history) - is_history.sum()), policy=params.policy)
    verdicts["evidence"] = history_evidence(
        verdicts, detections, engagements, is_history, min_caught_score=params.spread.min_caught_score
    )
    return (
        own_categories(
            engagements.iloc[keep]
            .drop(columns=[HISTORY_COLUMN, CONTEXT_COLUMN], errors="ignore")
            .reset_index(drop=True)
        ),
        verdicts,
        window,
        post_level_risk[keep].copy(),
    )


def _combined(detections: list[Detection], *, n_events: int, policy: PolicyParams) -> pd.DataFrame:
    """``combine`` of the detections at the policy's invalid cut and weak-evidence cap."""
    return combine(
        detections, n_events=n_events, invalid_risk=policy.invalid_risk, weak=WEAK, weak_cap=policy.weak_cap
    )


def score_engagements(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    posts: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    fitted: FittedState | None = None,
    reputation: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> ScoredWindow:
    """``score_window`` of events already reduced by ``distinct_engagements``.

    A caller that reads a large window can reduce it and drop the raw events before scoring, so that
    the two never sit in memory together. The input is not changed: the verdict columns are added to a
    shallow copy (copy-on-write shares the existing columns, so nothing is duplicated). Rows marked as
    history (``detectors.history.with_history``) are scored as context and left out of every output.
    ``chance``: the window's statistics when ``engagements`` are a shard (``detectors.chance``, ``scaleout``).
    """
    engagements = engagements.copy(deep=False)
    # no detector reads the event ids: without them each gather of rows (a platform's, a view's) moves
    # one string column less (1M + 3M with history: about 0.2 CPU s a gather of every row)
    detected = engagements.drop(columns=["event_id"], errors="ignore")
    context = _context(
        detected, params=params, posts=posts, fitted=fitted, reputation=reputation, chance=chance
    )
    detections, post_level_risk = _detect(detected, params=params, context=context, progress=progress)
    if progress is not None:
        progress("decide")
    policy = params.policy
    engagements, verdicts, detections, post_level_risk = _window_verdicts(
        engagements, detections, post_level_risk, params=params
    )
    for column in verdicts.columns:
        # reason and evidence stay categorical: a million strings cost time to build and write
        engagements[column] = verdicts[column].array
    price = unit_prices(engagements, campaigns, default_unit_price=policy.default_unit_price)
    engagements["unit_price"] = price
    engagements["held"] = held = held_engagements(engagements, policy=policy)
    decided = decide_posts(engagements, price=price, policy=policy, held=held)
    ring = next((d for d in detections if d.name == "ring"), None)
    accounts = flag_accounts(
        engagements,
        decided,
        policy=policy,
        is_bought=engagements["invalid"].to_numpy(dtype=bool) & (post_level_risk >= policy.invalid_risk),
        ring_creators=frozenset(ring_creators(ring)) if ring is not None else frozenset(),
    )
    return ScoredWindow(
        engagements=engagements,
        posts=decided,
        accounts=accounts,
        detections=tuple(detections),
        unavailable_signals=unavailable_signals(engagements),
    )


def confirmed_accounts(window: ScoredWindow, *, invalid_risk: float) -> pd.DataFrame:
    """Engaging accounts with an engagement invalid on structural evidence alone, and when.

    The noisy-OR of the structural detectors' scores (a re-count aside: it is no
    fault of the account) must reach ``invalid_risk`` by itself: weak signals,
    ``known_seller`` among them, never confirm an account, so a reputation cannot
    keep renewing itself. Columns: account_id (str), established_at (the
    account's last such engagement's ``ts``), one row per account, by account.
    """
    engagements = window.engagements
    keep = np.ones(len(engagements))
    for detection in window.detections:
        if detection.name in STRUCTURAL and detection.name not in NOT_ACCOUNT_FAULT_REASONS:
            keep *= 1.0 - np.clip(detection.event_score, 0.0, 1.0)
    hit = engagements.loc[(1.0 - keep) >= invalid_risk, ["user_id", "ts"]].dropna(subset=["user_id"])
    per_account = hit.assign(user_id=hit["user_id"].astype("str")).groupby("user_id", sort=True)["ts"].max()
    return pd.DataFrame(
        {"account_id": per_account.index.astype("str"), "established_at": per_account.to_numpy()}
    )
