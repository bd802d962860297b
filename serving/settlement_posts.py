"""What a settlement pays: a campaign's posts decided over the period's events no settlement covered.

The posts come from the detection run that covers the period (as scoring decided them when
deciding again would give the same numbers), or, when detection is unavailable, every post
waits on hold with nothing payable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from detectors.params import ScoringParams
from detectors.policy import decide_posts, unit_prices
from features.arrays import is_in
from features.schema import PAID_ACTIONS
from serving.auth import Principal
from serving.db.claims import Ledger
from serving.db.database import as_utc
from serving.db.events import EventRepository
from serving.db.models import Campaign, DetectionRun
from serving.db.runs import RunRepository
from serving.detection import DetectionService, campaigns_frame
from serving.errors import Unavailable
from serving.ledger_rows import Held, held_rows
from serving.scored_runs import ScoredRun
from serving.scorers import VersionedScorer
from serving.statuses import Decision, RunStatus
from serving.verdicts import RunVerdicts, VerdictIndex, Window, events_hash, moments_ns

DETECTION_UNAVAILABLE = "detection_unavailable"


@dataclass(frozen=True)
class Decided:
    """What a settlement decided: its posts, the run and versions behind them, the events it covers."""

    posts: pd.DataFrame
    run_id: str | None
    input_hash: str
    n_events: int
    # the model that made the verdicts (a run's own, not whichever model is active now)
    model_version: str
    rules_version: str
    # the events decided on (event_id, ts), read from the ingest batches up to ``through_batch``:
    # the settlement claims the period of those batches in the ledger (``serving.db.claims``;
    # 0 when unknown: the claim then holds nothing and is refused, ``ClaimMismatch``)
    covered: pd.DataFrame
    through_batch: int = 0
    n_already_settled: int = 0
    already_settled_by: tuple[str, ...] = ()


class PostDecider:
    """Decides a campaign's posts over a period from the run that covers it; finished runs' verdicts
    are indexed once and kept (``VerdictIndex``)."""

    def __init__(self, *, runs: RunRepository, events: EventRepository, detection: DetectionService) -> None:
        self.runs = runs
        self.events = events
        self.detection = detection
        self.verdict_index = VerdictIndex()
        self._finished_runs: dict[str, DetectionRun] = {}  # finished runs never change
        self._covered: dict[tuple[str, str], bool] = {}

    def prepare(self, scored: ScoredRun) -> None:
        """Index a finished run's verdicts for settling and check them against the stored events.

        Called with the run's window in memory when its verdicts are written, so the first
        settlement after the run pays for neither (see ``_covers``) and nothing is read back.
        """
        indexed = self.verdict_index.get(scored.run_id, lambda: scored.verdicts)
        run = self.runs.run(scored.run_id)
        if run is None:
            return
        for campaign_id in indexed.campaign_ids():
            self._check_covered(run, indexed, campaign_id)

    def decide(
        self,
        campaign: Campaign,
        start: datetime,
        end: datetime,
        actor: Principal,
        ledger: Ledger,
        *,
        run_id: str | None = None,
    ) -> Decided:
        """The campaign's posts decided over the period's events that ``ledger`` does not hold, on the
        verdicts of ``run_id`` (a finished run covering the period) or of the run covering it now."""
        champion = self.detection.models().champion
        prices = campaigns_frame([campaign])
        campaign_id = campaign.campaign_id
        if not self.events.has_events(start=start, end=end, campaign_id=campaign_id):
            return Decided(
                posts=_no_posts(),
                run_id=None,
                input_hash=events_hash(pd.DataFrame()),
                n_events=0,
                model_version=champion.version,
                rules_version=champion.rules_version,
                covered=pd.DataFrame({"event_id": [], "ts": []}),
            )
        try:
            if run_id is None:
                run_id = self.detection.current_run(
                    start=start, end=end, campaign_id=campaign_id, actor=actor
                )
            window, posts, held = self._decide_by_run(run_id, campaign_id, (start, end), prices, ledger)
        except Exception:
            # fail safe: without a verdict nothing is paid; everything waits for a human
            return self._held_all(champion, campaign_id, (start, end), prices, ledger)
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        return Decided(
            posts=posts,
            run_id=run_id,
            input_hash=window.input_hash,
            n_events=len(window.verdicts),
            model_version=run.model_version if run is not None else champion.version,
            rules_version=run.rules_version if run is not None else champion.rules_version,
            covered=window.verdicts[["event_id", "ts"]],
            through_batch=run.last_batch_id if run is not None else 0,
            n_already_settled=held.n_events,
            already_settled_by=held.by,
        )

    def _held_all(
        self,
        champion: VersionedScorer,
        campaign_id: str,
        period: tuple[datetime, datetime],
        prices: pd.DataFrame,
        ledger: Ledger,
    ) -> Decided:
        """Every open event of the period on hold, nothing payable: the answer without a verdict."""
        through = self.detection.published_batch()
        try:
            events = self.detection.stored_events(
                start=period[0], end=period[1], campaign_id=campaign_id, through_batch=through
            )
        except OSError:
            raise Unavailable("event store unavailable; nothing was recorded") from None
        events, held = self._unsettled(events, ledger, period, through, campaign_id)
        posts = _held_for_review(events, prices, default_unit_price=champion.params.policy.default_unit_price)
        covered = events.drop_duplicates("event_id", keep="first")[["event_id", "ts"]]
        return Decided(
            posts=posts,
            run_id=None,
            input_hash=events_hash(events),
            n_events=len(covered),
            model_version=champion.version,
            rules_version=champion.rules_version,
            covered=covered,
            through_batch=through,
            n_already_settled=held.n_events,
            already_settled_by=held.by,
        )

    def _decide_by_run(
        self,
        run_id: str,
        campaign_id: str,
        period: tuple[datetime, datetime],
        prices: pd.DataFrame,
        ledger: Ledger,
    ) -> tuple[Window, pd.DataFrame, Held]:
        """The campaign's window of the run's verdicts not yet settled, the posts decided on it, and
        the window's events the ledger holds (left out)."""
        start, end = period
        # the run's own thresholds: the settlement names its model and rules version
        params = self.detection.params(run_id)
        indexed = self.verdict_index.get(run_id, lambda: self.detection.verdicts(run_id))
        window = indexed.window(
            campaign_id, start, end, prices=prices, default_unit_price=params.policy.default_unit_price
        )
        run = self._finished_runs.get(run_id) or self.runs.run(run_id)
        if not self._covers(run_id, indexed, campaign_id) and len(window.verdicts) != (
            # the events the run read: of batches up to its last (later ones stay open for the next claim)
            self.events.count_events(
                start=start,
                end=end,
                campaign_id=campaign_id,
                through_batch=run.last_batch_id if run is not None else None,
            )
        ):
            raise RuntimeError("detection verdicts do not cover every event of the period")
        held = self._held(window, ledger, period, run, campaign_id)
        if held.n_events:
            window = window.without(held.rows)
            return window, self._decided(window, params), held
        scored = self.detection.scored(run_id)
        posts = (
            decided_in_scoring(scored, run, indexed, window, period, prices)
            if scored is not None and run is not None
            else None
        )
        return window, self._decided(window, params) if posts is None else posts, held

    @staticmethod
    def _decided(window: Window, params: ScoringParams) -> pd.DataFrame:
        """The window's posts decided with the run's policy, on the post keys its run computed once."""
        return decide_posts(window.verdicts, price=window.price, policy=params.policy, keys=window.keys)

    def _held(
        self,
        window: Window,
        ledger: Ledger,
        period: tuple[datetime, datetime],
        run: DetectionRun | None,
        campaign_id: str,
    ) -> Held:
        """The window's verdicts the ledger holds (read from the run's batches, up to its last)."""
        through = run.last_batch_id if run is not None else self.events.last_batch_id()
        verdicts = window.verdicts
        return held_rows(
            ledger,
            verdicts["event_id"],
            window.ts_ns if window.ts_ns is not None else moments_ns(verdicts["ts"]),
            period=period,
            through=through,
            read_ids=lambda boxes: self.events.ids_in_pieces(campaign_id, boxes),
            distinct=window.lines is not None,
        )

    def _unsettled(
        self,
        events: pd.DataFrame,
        ledger: Ledger,
        period: tuple[datetime, datetime],
        through: int,
        campaign_id: str,
    ) -> tuple[pd.DataFrame, Held]:
        """The stored events (read up to batch ``through``) the ledger does not hold, and those it holds."""
        if events.empty:
            return events, Held(rows=np.zeros(0, dtype=bool), n_events=0, by=())
        held = held_rows(
            ledger,
            events["event_id"],
            moments_ns(events["ts"]),
            period=period,
            through=through,
            read_ids=lambda boxes: self.events.ids_in_pieces(campaign_id, boxes),
        )
        return events.loc[~held.rows].reset_index(drop=True), held

    def _covers(self, run_id: str, indexed: RunVerdicts, campaign_id: str) -> bool:
        """Whether the run's verdicts are exactly the campaign's stored events, in any window.

        True when no batch arrived since the run began and, over the run's whole period,
        the campaign has as many stored events as verdicts (checked once per run and
        campaign). The run read every event committed before it began, so equal counts
        mean equal sets. Otherwise the caller counts the window's events itself.
        """
        run = self._finished_runs.get(run_id)
        if run is None:
            run = self.runs.run(run_id)
            if run is None or run.status != RunStatus.DONE:
                return False
            self._finished_runs[run_id] = run
        if self.events.last_batch_id() > run.last_batch_id:
            return False
        return self._check_covered(run, indexed, campaign_id)

    def _check_covered(self, run: DetectionRun, indexed: RunVerdicts, campaign_id: str) -> bool:
        key = (run.id, campaign_id)
        if key not in self._covered:
            stored = self.events.count_events(
                start=as_utc(run.period_start), end=as_utc(run.period_end), campaign_id=campaign_id
            )
            self._covered[key] = stored == indexed.campaign_size(campaign_id)
        return self._covered[key]


def decided_in_scoring(
    scored: ScoredRun,
    run: DetectionRun,
    indexed: RunVerdicts,
    window: Window,
    period: tuple[datetime, datetime],
    prices: pd.DataFrame,
) -> pd.DataFrame | None:
    """The campaign's posts as scoring decided them, if deciding ``window`` again gives the same numbers.

    None otherwise (the caller then decides the window). The same numbers need the same
    input, thresholds and sums: the window is the run's whole period of the campaign
    (``prices``' one campaign), the run scored it with the campaign's current prices, the
    settlement decides with the run's params (``DetectionService.params``), the campaign's
    posts share no post_id with each other or another campaign (reasons are gathered per
    post_id), and its verdicts are in scoring's row order (each post's sums add the same
    floats in the same order).
    """
    campaign_id = str(prices["campaign_id"].iloc[0])
    if period != (as_utc(run.period_start), as_utc(run.period_end)):
        return None
    if len(window.verdicts) != indexed.campaign_size(campaign_id) or not indexed.in_given_order(campaign_id):
        return None
    priced = scored.campaigns.loc[scored.campaigns["campaign_id"] == campaign_id].reset_index(drop=True)
    if not priced.equals(prices.reset_index(drop=True)):
        return None
    post_ids = scored.posts["post_id"].astype("str")
    is_mine = (scored.posts["campaign_id"].astype("str") == campaign_id).to_numpy()
    mine = post_ids[is_mine]
    if mine.duplicated().any() or mine.isin(post_ids[~is_mine]).any():
        return None
    return scored.posts.loc[is_mine].reset_index(drop=True)


def _no_posts() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "post_id",
            "creator_id",
            "claimed",
            "valid",
            "decision",
            "claimed_amount",
            "payable",
            "held_amount",
            "reasons",
        ]
    )


def _held_for_review(
    events: pd.DataFrame, prices: pd.DataFrame, *, default_unit_price: float
) -> pd.DataFrame:
    """Every post on hold with nothing payable: the answer when detection is unavailable."""
    frame = events.assign(copies=1)
    price = unit_prices(frame, prices, default_unit_price=default_unit_price)
    is_paid = is_in(frame["action"], PAID_ACTIONS)
    posts = (
        pd.DataFrame(
            {
                "post_id": frame["post_id"].astype("str").to_numpy(),
                "creator_id": frame["creator_id"].astype("str").to_numpy(),
                "claimed": is_paid.astype(np.int64),
                "claimed_amount": price,
            }
        )
        .groupby(["post_id", "creator_id"], sort=True)
        .sum()
        .reset_index()
    )
    posts["valid"] = 0
    posts["decision"] = Decision.HOLD.value
    posts["payable"] = 0.0
    posts["held_amount"] = posts["claimed_amount"]
    posts["reasons"] = DETECTION_UNAVAILABLE
    return posts
