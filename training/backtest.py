"""Money backtest: what each creator of the last settlements would be paid under a new scorer."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from detectors.model import WindowScorer
from training.gates import BacktestOutcome

SETTLED_COLUMNS = (
    "settlement_id",
    "campaign_id",
    "period_start",
    "period_end",
    "post_id",
    "creator_id",
    "payable",
)


@dataclass(frozen=True)
class SettledHistory:
    """The last settlements' post lines (``SETTLED_COLUMNS``), their periods' clean events and prices."""

    posts: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame | None = None


def money_backtest(
    scorer: WindowScorer, history: SettledHistory | None
) -> tuple[BacktestOutcome, pd.DataFrame]:
    """Per creator: paid versus would pay under ``scorer``; the total absolute change as a share.

    Each settled period is rescored the way the service scores it: every
    campaign's events of the period in one window, then the settled campaign's posts.
    """
    if history is None or history.posts.empty:
        return BacktestOutcome(0, 0.0, 0.0, 0.0, None, note="no settlements"), pd.DataFrame(
            columns=["creator_id", "paid", "would_pay", "change"]
        )
    settled = history.posts
    events = history.events
    ts = events["ts"]
    would: list[pd.DataFrame] = []
    for (start, end), lines in settled.groupby(["period_start", "period_end"], sort=True):
        window = events.loc[((ts >= start) & (ts < end)).to_numpy()]
        if window.empty:
            continue
        posts = scorer.score(window, campaigns=history.campaigns).posts
        mine = posts[posts["campaign_id"].astype("str").isin(set(lines["campaign_id"].astype("str")))]
        would.append(mine[["creator_id", "payable"]].astype({"creator_id": "str"}))
    paid = (
        settled.assign(creator_id=settled["creator_id"].astype("str")).groupby("creator_id")["payable"].sum()
    )
    new = pd.concat(would).groupby("creator_id")["payable"].sum() if would else pd.Series(dtype="float64")
    table = pd.DataFrame({"paid": paid.astype("float64"), "would_pay": new}).fillna(0.0)
    table["change"] = table["would_pay"] - table["paid"]
    table = table.rename_axis("creator_id").reset_index().sort_values("change", key=abs, ascending=False)
    total_paid = float(table["paid"].sum())
    abs_change = float(table["change"].abs().sum())
    outcome = BacktestOutcome(
        n_settlements=int(settled["settlement_id"].nunique()),
        paid=total_paid,
        would_pay=float(table["would_pay"].sum()),
        abs_change=abs_change,
        change_share=abs_change / total_paid if total_paid > 0 else (0.0 if abs_change == 0 else 1.0),
    )
    return outcome, table.reset_index(drop=True)
