"""The creator and group case pages' view model: the money per post or member, what each action
pays or keeps, and the cases linked to them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from serving.db.database import utcnow
from serving.errors import ServiceError
from serving.review.account_cases import case_post_id
from serving.review.creator_history import creator_history
from serving.review.decisions import DecisionService
from serving.review.group_links import across_view, linked_group
from serving.review.rows import CaseRow
from serving.review.subject_recording import SubjectPlan
from serving.review.subjects import (
    CREATOR_PREFIX,
    creator_posts,
    member_money,
    settlement_lines,
)
from serving.review.view import case_decision, currency_of, records
from serving.statuses import AdjustmentKind

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class SubjectEvidence:
    """Everything a creator or group case page shows besides the case row itself."""

    currency: str
    # creator: its posts (post_id, decision, claimed, claimed_amount, payable, withheld_amount,
    # held_amount, kept, reasons); group: the posts it engaged (post_id, creator_id, decision)
    posts: list[dict[str, Any]]
    members: list[dict[str, Any]]  # group: account_id, engagements, money, case_id
    reason: str
    evidence: str
    dispute_first: str
    clear_pays: Decimal
    clear_held: Decimal
    clear_withheld: Decimal
    totals: dict[str, Decimal]  # creator: claimed, paid, withheld, held
    linked: list[dict[str, Any]]  # other cases: case_id, subject, status
    # creator: its other settlements, latest first (settlement_id, campaign_id, period, posts, claimed,
    # paid, withheld, held, case_id, case_status) and their posts (post_id, settlement_id, campaign_id,
    # decision, claimed, paid, withheld, held, case_id)
    settlements: list[dict[str, Any]]
    other_posts: list[dict[str, Any]]
    across: dict[str, Any] | None  # group: its seller group across settlements (``group_links``)
    decision: dict[str, Any] | None
    note: str


def subject_evidence(case: CaseRow, *, decisions: DecisionService) -> SubjectEvidence:
    """The view of a creator or group case (a note says what could not be read)."""
    settlement = decisions.settlements.settlement(case.settlement_id)
    body = settlement.body if settlement is not None else ""
    note = ""
    try:
        plan = decisions.subject_plan(case)
    except ServiceError as error:
        plan, note = (
            SubjectPlan(clear=[], confirm=[], labels_confirm=[], labels_clear=[], main_post=""),
            error.detail,
        )
    held = sum((r.amount for r in plan.clear if r.kind == AdjustmentKind.RELEASE), _ZERO)
    withheld = sum((r.amount for r in plan.clear if r.kind == AdjustmentKind.RELEASE_WITHHELD), _ZERO)
    view = (
        _creator_view(case, decisions, body) if case.kind == "creator" else _group_view(case, decisions, body)
    )
    return SubjectEvidence(
        currency=currency_of(body),
        clear_pays=held + withheld,
        clear_held=held,
        clear_withheld=withheld,
        decision=case_decision(decisions.stored_cases, case.case_id),
        note=note,
        **view,
    )


def _creator_view(case: CaseRow, decisions: DecisionService, body: str) -> dict[str, Any]:
    creator_id = case.post_id.removeprefix(CREATOR_PREFIX)
    posts = creator_posts(settlement_lines(body), creator_id)
    totals = {
        "claimed": posts["claimed_amount"].sum(),
        "paid": posts["payable"].sum(),
        "withheld": posts["withheld_amount"].sum(),
        "held": posts["held_amount"].sum(),
    }
    linked = decisions.stored_cases.linked([case.settlement_id], list(posts["post_id"]))
    others, other_posts = creator_history(
        creator_id,
        this_settlement=case.settlement_id,
        settlements=decisions.settlements,
        stored=decisions.stored_cases,
    )
    return {
        "posts": records(posts),
        "members": [],
        "reason": ", ".join(case.reasons),
        "evidence": "",
        "dispute_first": str(posts["post_id"].iloc[0]) if len(posts) else "",
        "totals": {k: Decimal(repr(round(float(v), 2))).quantize(Decimal("0.01")) for k, v in totals.items()},
        "linked": [{"case_id": i, "subject": f"post {p}", "status": s} for i, _, p, s in linked],
        "settlements": others,
        "other_posts": other_posts,
        "across": None,
    }


def _group_view(case: CaseRow, decisions: DecisionService, body: str) -> dict[str, Any]:
    empty: dict[str, Any] = {"posts": [], "members": [], "reason": "", "evidence": "", "linked": []}
    try:
        group = decisions.group_of(case)
        verdicts, _ = decisions.settlement_groups(case.settlement_id)
    except ServiceError:
        return {
            **empty,
            "dispute_first": "",
            "totals": {},
            "settlements": [],
            "other_posts": [],
            "across": None,
        }
    assert verdicts is not None
    members = member_money(verdicts, group)
    cases = decisions.stored_cases.linked([case.settlement_id], [case_post_id(m) for m in group.members])
    by_account = {p.removeprefix("account:"): (i, s) for i, _, p, s in cases}
    lines = settlement_lines(body).set_index("post_id")
    return {
        "posts": [
            {
                "post_id": p,
                "creator_id": str(lines["creator_id"].get(p, "")),
                "decision": str(lines["decision"].get(p, "")),
                "is_held": p in verdicts.held_posts,
            }
            for p in group.posts
        ],
        "members": [
            {**row, "case_id": by_account.get(str(row["account_id"]), ("", ""))[0]}
            for row in records(members)
        ],
        "reason": group.reason,
        "evidence": group.evidence,
        "dispute_first": group.main_post,
        "totals": {},
        "linked": [
            {"case_id": i, "subject": f"account {a}", "status": s} for a, (i, s) in by_account.items()
        ],
        "settlements": [],
        "other_posts": [],
        "across": _across(case, decisions),
    }


def _across(case: CaseRow, decisions: DecisionService) -> dict[str, Any] | None:
    """The case's seller group across settlements (None when it is linked to no other case)."""
    group = linked_group(decisions.stored_cases, case, now=utcnow())
    if group is None or len(group.cases) < 2:
        return None
    return across_view(group, stored=decisions.stored_cases, settlements=decisions.settlements)
