"""The account case page's view model: the account's reasons, engagements, infrastructure and group."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from serving.db.models import Settlement
from serving.review.account_cases import (
    SettlementVerdicts,
    account_lines,
    settlement_verdicts,
)
from serving.review.charts import graph_svg
from serving.review.decisions import DecisionService
from serving.review.evidence import (
    Graph,
    account_age,
    account_infrastructure,
    group_graph,
    reason_evidence,
    sample_events,
)
from serving.review.rows import CaseRow
from serving.review.subjects import group_case_post_id, seller_groups
from serving.review.view import case_decision, currency_of, graph_links, records, settlement_events
from serving.store import EventStore


@dataclass(frozen=True)
class AccountEvidence:
    """Everything the account case page shows besides the case row itself."""

    currency: str
    risk: str
    reasons_line: str
    n_engagements: int
    n_invalid: int
    posts: list[dict[str, Any]]  # post_id, engagements, at_stake, releasable, is_held
    releasable: Decimal  # what clearing releases now (held money of its engagements on held posts)
    graph_svg: str
    graph_post: str
    graph_accounts: int
    graph_posts: int
    reasons: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    ips: list[dict[str, Any]]
    age: dict[str, str]
    samples: list[dict[str, Any]]
    decision: dict[str, Any] | None
    note: str
    linked: list[dict[str, Any]]  # its other cases: case_id, subject, settlement_id, status


@dataclass(frozen=True)
class _Judged:
    """What the settlement's verdicts say of the account (all empty when they cannot be read)."""

    mine: pd.DataFrame  # the account's engagements on the settlement's posts, as judged
    lines: pd.DataFrame  # per post: engagements, at_stake, releasable
    held_posts: frozenset[str]
    risk: str = ""
    reasons_line: str = ""
    releasable: Decimal = Decimal("0.00")
    graph: Graph | None = None
    graph_post: str = ""


def account_evidence(case: CaseRow, *, decisions: DecisionService, store: EventStore) -> AccountEvidence:
    """Read the settlement's verdicts and the period's events once; build the account's evidence."""
    account_id = case.account_id or ""
    settlement = decisions.settlements.settlement(case.settlement_id)
    note = ""
    try:
        verdicts = settlement_verdicts(
            case.settlement_id,
            settlements=decisions.settlements,
            campaigns=decisions.campaigns,
            detection=decisions.detection,
        )
    except Exception:
        verdicts = None
        note = "the detection verdicts of this settlement cannot be read; nothing can be released from here"
    judged = (
        _judged(case, verdicts, decisions=decisions, settlement=settlement)
        if verdicts is not None
        else _Judged(mine=pd.DataFrame(), lines=pd.DataFrame(), held_posts=frozenset())
    )
    mine = judged.mine
    period_events = settlement_events(store, settlement)
    own_events = (
        period_events.loc[period_events["user_id"].astype("str") == account_id]
        if not period_events.empty
        else period_events
    )
    graph = judged.graph
    empty_graph = Graph(accounts=pd.DataFrame(), posts=pd.DataFrame(), edges=pd.DataFrame())
    graph_title = (
        f"Doubted accounts of post {judged.graph_post} (this account's main post) and the posts they engage"
    )
    return AccountEvidence(
        currency=currency_of(settlement.body if settlement is not None else "{}"),
        risk=judged.risk,
        reasons_line=judged.reasons_line,
        n_engagements=len(mine),
        n_invalid=int(mine["invalid"].astype(bool).sum()) if not mine.empty else 0,
        posts=records(_post_rows(judged.lines, judged.held_posts)),
        releasable=judged.releasable,
        graph_svg=graph_svg(
            graph or empty_graph,
            title=graph_title,
            links=graph_links(decisions.stored_cases, case.settlement_id, graph),
        ),
        graph_post=judged.graph_post,
        graph_accounts=0 if graph is None else len(graph.accounts),
        graph_posts=0 if graph is None else len(graph.posts),
        reasons=records(reason_evidence(mine) if not mine.empty else pd.DataFrame()),
        devices=records(account_infrastructure(own_events, period_events, "device_id")),
        ips=records(account_infrastructure(own_events, period_events, "ip")),
        age=account_age(own_events),
        samples=records(_samples(mine, own_events)),
        decision=case_decision(decisions.stored_cases, case.case_id),
        note=note,
        linked=_linked(case, verdicts, judged.lines, decisions=decisions),
    )


def _linked(
    case: CaseRow, verdicts: SettlementVerdicts | None, lines: pd.DataFrame, *, decisions: DecisionService
) -> list[dict[str, Any]]:
    """Every other case about the account: its account cases and the seller-group cases it is a member
    of in any settlement, and in this one the held posts it engaged."""
    account_id = case.account_id or ""
    posts = list(lines["post_id"].astype("str")) if not lines.empty else []
    found = [
        {"case_id": i, "subject": str(kind), "settlement_id": s, "campaign_id": c, "status": str(st)}
        for i, kind, s, c, st in decisions.stored_cases.account_cases(account_id, f";{account_id};")
    ]
    if verdicts is not None and not any(f["subject"] == "group" for f in found):
        # a settlement opened before groups were linked: its groups, found from its run
        mine = [group_case_post_id(g.key) for g in seller_groups(verdicts) if account_id in g.members]
        found += [
            {"case_id": i, "subject": "group", "settlement_id": s, "campaign_id": "", "status": str(st)}
            for i, s, _, st in decisions.stored_cases.linked([case.settlement_id], mine)
        ]
    found += [
        {"case_id": i, "subject": f"post {p}", "settlement_id": s, "campaign_id": "", "status": str(st)}
        for i, s, p, st in decisions.stored_cases.linked([case.settlement_id], posts)
    ]
    seen: set[str] = {case.case_id}
    out = []
    for f in found:
        if f["case_id"] not in seen:
            seen.add(f["case_id"])
            out.append(f)
    return out


def _judged(
    case: CaseRow, verdicts: SettlementVerdicts, *, decisions: DecisionService, settlement: Settlement | None
) -> _Judged:
    """The account's engagements, per-post money, risk and reasons, what clearing releases, its group."""
    account_id = case.account_id or ""
    engagements = verdicts.engagements
    mine = engagements.loc[engagements["user_id"].astype("str") == account_id].copy()
    mine["ts"] = pd.to_datetime(mine["ts"], utc=True)
    lines = account_lines(verdicts, {account_id})
    accounts = verdicts.accounts  # flagged or not (an uncertain sample may be neither)
    own = accounts.loc[
        (accounts["role"].astype("str") == "engager") & (accounts["account_id"].astype("str") == account_id)
    ]
    risk, reasons_line = "", ""
    if not own.empty:
        risk = f"{float(own['risk'].iloc[0]):.2f}"
        reasons_line = str(own["reasons"].iloc[0]).replace(";", ", ")
    graph, graph_post = None, ""
    if not lines.empty:
        graph_post = str(
            lines.sort_values(["engagements", "post_id"], ascending=[False, True])["post_id"].iloc[0]
        )
        run_verdicts = (
            decisions.detection.verdicts(settlement.run_id) if settlement and settlement.run_id else None
        )
        if run_verdicts is not None:
            graph = group_graph(
                run_verdicts, graph_post, review_risk=decisions.params(case).policy.review_risk
            )
    return _Judged(
        mine=mine,
        lines=lines,
        held_posts=verdicts.held_posts,
        risk=risk,
        reasons_line=reasons_line,
        releasable=sum((v for _, v in decisions.account_plan(case).releases), Decimal("0.00")),
        graph=graph,
        graph_post=graph_post,
    )


def _samples(mine: pd.DataFrame, own_events: pd.DataFrame) -> pd.DataFrame:
    """Up to 20 of the account's judged engagements beside its raw events, each with its post."""
    samples = sample_events(mine, own_events, n=20) if not mine.empty else pd.DataFrame()
    if not samples.empty:
        samples["post_id"] = samples["event_id"].map(
            mine.drop_duplicates("event_id").set_index("event_id")["post_id"]
        )
    return samples


def _post_rows(lines: pd.DataFrame, held_posts: frozenset[str]) -> pd.DataFrame:
    """The account's per-post money rounded to cents, each marked held or not."""
    if lines.empty:
        return lines
    return lines.assign(
        at_stake=lines["at_stake"].round(2),
        releasable=lines["releasable"].round(2),
        is_held=lines["post_id"].isin(sorted(held_posts)),
    )
