"""Every detector's detection of a window as the scorer combines it: weighed by its accounts' focus,
spread to their other engagements and through seller IPs, the stacker's last; and a shard's part of
that spreading evidence for a split window's first pass (``spread_parts``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.chance import WindowChance
from detectors.params import ScoringParams
from detectors.policy import NOT_ACCOUNT_FAULT_REASONS
from detectors.post_only_ips import raise_post_only_ips
from detectors.registry import DETECTORS, STRUCTURAL, DetectorSpec, WindowContext
from detectors.scorer.running import raw_detections, window_context
from detectors.seller_ips import NAME as SELLER_IPS
from detectors.seller_ips import (
    address_codes,
    first_round_raises,
    ip_part,
    split_platform_rows,
    spread_through_ips,
)
from detectors.spread import (
    SPREAD_COLUMNS,
    AccountRows,
    account_rows,
    detector_rows,
    spread_part,
    spread_to_accounts,
    weight_by_focus,
    window_alone_part,
)

if TYPE_CHECKING:
    from detectors.fitted import FittedState


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
        window = None if spread is None else detector_rows(spread, spec.name)
        known = context.chance.creators if context.chance is not None else None
        detection = spread_to_accounts(
            detection, engagements, params=params.spread, window=window, creators=known, rows=rows
        )
    return post_level, detection


def window_detections(
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
    detections, post_level_risk = _spread_detections(
        engagements, params=params, context=context, progress=progress
    )
    window = context.chance.seller_ips if context.chance is not None else None
    # the two address rules read the same codes and counts of the engagements: taken once
    addresses = address_codes(engagements) if "ip" in engagements and len(engagements) else None
    detections = spread_through_ips(
        detections,
        engagements,
        structural=STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS,
        params=params.spread,
        creators=_creators(context),
        window=window,
        shared=addresses,
    )
    detections = raise_post_only_ips(
        detections,
        engagements,
        params=params.spread,
        creators=_creators(context),
        split=split_platform_rows(engagements, window),
        window=context.chance.post_only if context.chance is not None else None,
        shared=addresses,
    )
    fitted = context.fitted
    if fitted is not None and fitted.stacker is not None:
        detections.append(fitted.stacker.detect(detections, engagements, _stacked_features(context)))
    return detections, post_level_risk


def _spread_detections(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    context: WindowContext,
    progress: Callable[[str], None] | None,
) -> tuple[list[Detection], npt.NDArray[np.float64]]:
    """Every detector's detection weighed and spread to its accounts (``_finished``), before the two
    address rules, and the noisy-OR of the post-level detectors' scores."""
    rows = account_rows(engagements, creators=context.chance.creators if context.chance is not None else None)
    # each detection is weighed and spread in its detector's thread, as soon as it is found
    specs, by_name = raw_detections(
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
    return detections, 1.0 - post_level_keep


def _stacked_features(context: WindowContext) -> pd.DataFrame:
    """The account features the supervised stacker reads: the window's when the rows are a shard of it
    (``WindowChance.account_features``), else the rows' own."""
    given = context.chance.account_features if context.chance is not None else None
    return given if given is not None else context.account_features()


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
    window_alone: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One shard's part of the window's spreading evidence (``detectors.spread.spread_part``), of
    its seller-IP evidence (``detectors.seller_ips.ip_part``), and its ``focused_part``.

    The first of a split window's passes (``scaleout.job``): the detectors run as
    ``score_engagements`` runs them; the parts, combined over the shards, are the
    ``spread`` and ``seller_ips`` of the ``WindowChance`` the last pass scores with. The
    seller-IP part counts the accounts caught after spreading with the shard's own evidence (the
    window's is what this pass gathers). The focused part is what the seller-IP rule's second-round
    pass reads of the detectors (``raise_parts``), so that it need not run them again. ``window_alone``:
    the spreading part of the window's own rows too (``detectors.spread.window_alone_part``: a window
    with history, ``SpreadParams.window_alone`` on).
    """
    context = window_context(
        engagements, params=params, posts=posts, fitted=fitted, reputation=reputation, chance=chance
    )
    specs, by_name = raw_detections(
        engagements, params=params, context=context, progress=None, finish=lambda _spec, found: found
    )
    known = chance.creators if chance is not None else None
    rows = account_rows(engagements, creators=known)
    parts = [pd.DataFrame(columns=list(SPREAD_COLUMNS))]
    focused, detections = [], []
    for spec in specs:
        detection = _focused(spec, by_name[spec.name], engagements, params=params, context=context)
        focused.append(detection)
        if spec.spreads:
            parts.append(spread_part(detection, engagements, params=params.spread, creators=known, rows=rows))
            if window_alone:
                alone = window_alone_part(
                    detection, engagements, params=params.spread, creators=known, rows=rows
                )
                parts.append(alone)
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
    return pd.concat(parts, ignore_index=True), ips, focused_part(focused, n_events=len(engagements))


# a shard's detections as the seller-IP rule reads them, before spreading (``focused_part``): per detector
# that counts an account as caught, each engagement (its position in the shard's rows) it scores
FOCUSED_COLUMNS = ("detector", "row", "score")


def _read_by_seller_ips(name: str) -> bool:
    """Whether the seller-IP rule reads detector ``name``'s scores (``seller_ips._caught_scores``), or
    is it (the rule raises on its detection)."""
    return name in STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS or name == SELLER_IPS


def focused_part(detections: list[Detection], *, n_events: int) -> pd.DataFrame:
    """``FOCUSED_COLUMNS`` of the ``detections`` (weighed by focus, not yet spread) the seller-IP rule
    reads: each non-zero score, and one row with ``row`` -1 per detector giving the shard's number of
    engagements (``raise_parts`` checks it reads the same rows)."""
    frames = [pd.DataFrame({"detector": [], "row": [], "score": []})]
    for detection in detections:
        if not _read_by_seller_ips(detection.name):
            continue
        at = np.flatnonzero(detection.event_score != 0.0)
        rows = np.append(at, -1).astype(np.int64)
        scores = np.append(detection.event_score[at], float(n_events))
        frames.append(pd.DataFrame({"detector": detection.name, "row": rows, "score": scores}))
    return pd.concat(frames, ignore_index=True).astype(
        {"detector": object, "row": "int64", "score": "float64"}
    )


def _stored(name: str, focused: pd.DataFrame, *, n_events: int) -> Detection:
    """Detector ``name``'s detection as ``focused_part`` kept it: its scores, no group."""
    mine = focused[focused["detector"] == name]
    told = mine.loc[mine["row"] < 0, "score"]
    if len(told) != 1 or int(told.iloc[0]) != n_events:
        raise ValueError(f"{name}: the first pass scored other rows than this shard's {n_events}")
    score = np.zeros(n_events)
    kept = mine[mine["row"] >= 0]
    score[kept["row"].to_numpy(dtype=np.int64)] = kept["score"].to_numpy(dtype=np.float64)
    groups = pd.DataFrame({"group_id": pd.Series(dtype="int64")})
    return Detection(name, score, np.full(n_events, -1, dtype=np.int64), groups)


def raise_parts(
    engagements: pd.DataFrame,
    *,
    params: ScoringParams,
    focused: pd.DataFrame,
    posts: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> pd.DataFrame:
    """One shard's part of the seller-IP rule's second-round window: its seller-IP part
    (``detectors.seller_ips.ip_part``) counted on the detections the scorer spreads with the window's
    evidence (``chance``, the first round's), and its accounts' first-round raises
    (``detectors.seller_ips.first_round_raises``, rows with a ``raised`` score and no address).

    The middle of a split window's passes (``scaleout.window_parts.window_second_round``). The
    detectors are not run again: their detections before spreading are the first pass's
    (``focused``: ``focused_part``; the window's statistics are the same in both passes, only the
    spreading and seller-IP evidence is new), spread here as ``score_engagements`` spreads them.
    """
    context = window_context(
        engagements, params=params, posts=posts, fitted=None, reputation=None, chance=chance
    )
    known = chance.creators if chance is not None else None
    spread = chance.spread if chance is not None else None
    rows = account_rows(engagements, creators=known)
    detections = []
    for spec in DETECTORS:
        if spec.name in params.disabled or not _read_by_seller_ips(spec.name):
            continue
        detection = _stored(spec.name, focused, n_events=len(engagements))
        if spec.spreads:
            window = None if spread is None else detector_rows(spread, spec.name)
            detection = spread_to_accounts(
                detection, engagements, params=params.spread, window=window, creators=known, rows=rows
            )
        detections.append(detection)
    structural = STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS
    creators = _creators(context)
    evidence = chance.seller_ips if chance is not None else None
    ips = ip_part(detections, engagements, structural=structural, params=params.spread, creators=creators)
    raised = first_round_raises(
        detections,
        engagements,
        structural=structural,
        params=params.spread,
        creators=creators,
        window=evidence,
    )
    return pd.concat([ips, raised], ignore_index=True)


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
