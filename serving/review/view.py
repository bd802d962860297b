"""The case page's view model: evidence frames turned into rows and SVG, ready for a template."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from serving.db.cases import CaseRepository
from serving.db.database import as_utc
from serving.db.models import Settlement
from serving.review.charts import graph_svg, timeline_svg
from serving.review.decisions import DecisionService
from serving.review.evidence import (
    Graph,
    account_ages,
    flagged_accounts,
    group_graph,
    reason_evidence,
    sample_events,
    shared_infrastructure,
    timeline,
)
from serving.review.rows import CaseRow
from serving.store import EventStore


@dataclass(frozen=True)
class CaseEvidence:
    """Everything the case page shows besides the case row itself."""

    currency: str
    clean_share: Decimal
    n_engagements: int
    n_flagged: int
    timeline_svg: str
    graph_svg: str
    graph_accounts: int
    graph_posts: int
    reasons: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    ips: list[dict[str, Any]]
    ages: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    decision: dict[str, Any] | None
    note: str


def case_evidence(case: CaseRow, *, decisions: DecisionService, store: EventStore) -> CaseEvidence:
    """Read the case's verdicts and events once and build every piece of evidence."""
    settlement = decisions.settlements.settlement(case.settlement_id)
    note = ""
    try:
        mine = decisions.verdicts(case)
    except Exception:
        mine = pd.DataFrame()
        note = "the detection verdicts of this settlement cannot be read; the post stays held"
    if settlement is not None and settlement.run_id is None:
        note = "detection was unavailable when this settlement was made: everything on the post is held"
    all_verdicts = (
        decisions.detection.verdicts(settlement.run_id)
        if settlement is not None and settlement.run_id
        else None
    )
    period_events = settlement_events(store, settlement)
    post_events = (
        period_events.loc[period_events["post_id"].astype("str") == case.post_id]
        if not period_events.empty
        else period_events
    )
    review_risk = decisions.params(case).policy.review_risk
    if mine.empty or all_verdicts is None:
        bins = timeline(pd.DataFrame(), pd.DataFrame())
        graph = None
        doubted: set[str] = set()
    else:
        campaign_verdicts = all_verdicts.loc[all_verdicts["campaign_id"].astype("str") == case.campaign_id]
        bins = timeline(mine, campaign_verdicts)
        graph = group_graph(all_verdicts, case.post_id, review_risk=review_risk)
        doubted = set(flagged_accounts(mine, review_risk=review_risk)["account_id"])
    title = f"Engagements of post {case.post_id} per bin against the organic baseline"
    graph_title = f"Doubted accounts of post {case.post_id} and the other posts they engage"
    empty_graph = Graph(accounts=pd.DataFrame(), posts=pd.DataFrame(), edges=pd.DataFrame())
    return CaseEvidence(
        currency=currency_of(settlement.body if settlement is not None else "{}"),
        clean_share=decisions.clean_share(case),
        n_engagements=len(mine),
        n_flagged=int(mine["invalid"].astype(bool).sum()) if not mine.empty else 0,
        timeline_svg=timeline_svg(bins, title=title),
        graph_svg=graph_svg(
            graph or empty_graph,
            title=graph_title,
            links=graph_links(decisions.stored_cases, case.settlement_id, graph),
        ),
        graph_accounts=0 if graph is None else len(graph.accounts),
        graph_posts=0 if graph is None else len(graph.posts),
        reasons=records(reason_evidence(mine) if not mine.empty else pd.DataFrame()),
        devices=records(shared_infrastructure(post_events, period_events, "device_id")),
        ips=records(shared_infrastructure(post_events, period_events, "ip")),
        ages=records(account_ages(post_events, doubted)),
        samples=records(sample_events(mine, post_events) if not mine.empty else pd.DataFrame()),
        decision=case_decision(decisions.stored_cases, case.case_id),
        note=note,
    )


def graph_links(stored_cases: CaseRepository, settlement_id: str, graph: Graph | None) -> dict[str, str]:
    """The case pages of a graph's nodes that have a case in the settlement (``a:<id>``, ``p:<id>``)."""
    if graph is None or graph.accounts.empty:
        return {}
    accounts = [f"account:{a}" for a in graph.accounts["account_id"].astype("str")]
    found = stored_cases.linked([settlement_id], [*accounts, *graph.posts["post_id"].astype("str")])
    return {
        (f"a:{p.removeprefix('account:')}" if p.startswith("account:") else f"p:{p}"): f"/review/cases/{i}"
        for i, _, p, _ in found
    }


def settlement_events(store: EventStore, settlement: Settlement | None) -> pd.DataFrame:
    """The stored events of a settlement's campaign and period (empty without a settlement)."""
    if settlement is None:
        return pd.DataFrame()
    return store.read(
        start=as_utc(settlement.period_start),
        end=as_utc(settlement.period_end),
        campaign_id=settlement.campaign_id,
    )


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts for a template (missing values as empty strings)."""
    out = frame.astype(object).where(frame.notna(), "")
    return [{str(k): v for k, v in row.items()} for row in out.to_dict(orient="records")]


def currency_of(body: str) -> str:
    """The currency of a stored settlement body ('' when unreadable)."""
    try:
        return str(json.loads(body).get("currency", ""))
    except ValueError:
        return ""


def case_decision(stored_cases: CaseRepository, case_id: str) -> dict[str, Any] | None:
    """The decision recorded on a case, as the case pages show it (None while open)."""
    row = stored_cases.decision_of(case_id)
    if row is None:
        return None
    return {
        "action": row.action,
        "released": row.released,
        "note": row.note,
        "actor": row.actor,
        "is_deadline": row.is_deadline,
        "decided_at": as_utc(row.decided_at),
    }
