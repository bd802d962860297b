"""The composed window scorer: clean events in, verdicts per engagement, post and account out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import START_COLUMN
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
from detectors.params import PolicyParams, ScoringParams
from detectors.policy import (
    NOT_ACCOUNT_FAULT_REASONS,
    decide_posts,
    flag_accounts,
    held_engagements,
    post_keys,
    unit_prices,
)
from detectors.registry import (
    STRUCTURAL,
    WEAK,
    unavailable_signals,
)
from detectors.rings import ring_creators
from detectors.scorer.detections import window_detections
from detectors.scorer.running import window_context

if TYPE_CHECKING:
    from detectors.fitted import FittedState


@dataclass(frozen=True)
class ScoredWindow:
    """Everything one scoring run decided, ready to write out."""

    engagements: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    detections: tuple[Detection, ...]
    unavailable_signals: tuple[str, ...] = field(default_factory=tuple)


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
            .drop(columns=[HISTORY_COLUMN, CONTEXT_COLUMN, START_COLUMN], errors="ignore")
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
    context = window_context(
        detected, params=params, posts=posts, fitted=fitted, reputation=reputation, chance=chance
    )
    detections, post_level_risk = window_detections(
        detected, params=params, context=context, progress=progress
    )
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
    keys = post_keys(engagements)  # each row's post, numbered once for both
    engagements["held"] = held = held_engagements(engagements, policy=policy, keys=keys)
    decided = decide_posts(engagements, price=price, policy=policy, held=held, keys=keys)
    ring = next((d for d in detections if d.name == "ring"), None)
    accounts = flag_accounts(
        engagements,
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
