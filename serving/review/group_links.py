"""A seller group across settlements, as its case pages and decisions see it: every group case linked
to it (``serving.review.groups``), their campaigns, periods, posts and money, and the members once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from serving.db.cases import CaseRepository
from serving.db.settlements import SettlementRepository
from serving.review.account_cases import ACCOUNT_POST_PREFIX, case_post_id
from serving.review.rows import CaseRow, case_rows
from serving.statuses import CaseStatus

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LinkedGroup:
    """One seller group across settlements: its cases (this one first) and their members."""

    group_id: str
    cases: list[CaseRow]
    members: dict[str, set[str]]  # case id -> its members

    @property
    def all_members(self) -> list[str]:
        """Every member once, sorted."""
        return sorted({m for found in self.members.values() for m in found})

    def others_open(self, case_id: str) -> list[CaseRow]:
        """The group's other open cases (what one decision on ``case_id`` decides with it)."""
        return [c for c in self.cases if c.case_id != case_id and c.status == CaseStatus.OPEN]


def linked_group(stored: CaseRepository, case: CaseRow, *, now: datetime) -> LinkedGroup | None:
    """The seller group a group case is linked to (None: not linked)."""
    group_id = stored.group_of_case(case.case_id)
    if group_id is None:
        return None
    found = stored.group_cases(group_id)
    members = {c.id: {m for m in text.split(";") if m} for c, text in found}
    ids = [c.id for c, _ in found if not c.post_id.startswith("reopened:")]
    rows = case_rows(stored.cases(ids), now=now)
    rows.sort(key=lambda r: (r.case_id != case.case_id, r.cutoff_at, r.case_id))
    return LinkedGroup(group_id=group_id, cases=rows, members=members)


def across_view(
    group: LinkedGroup, *, stored: CaseRepository, settlements: SettlementRepository
) -> dict[str, Any]:
    """What a group case page lists of its group across settlements: per case its campaign, period,
    posts and money; the members once, each with every case about it; the totals."""
    periods = {}
    for sid in {c.settlement_id for c in group.cases}:
        settlement = settlements.settlement(sid)
        if settlement is not None:
            periods[sid] = f"{settlement.period_start:%Y-%m-%d} to {settlement.period_end:%Y-%m-%d}"
    records = stored.cases([c.case_id for c in group.cases])
    posts = {cid: sorted(p.post_id for p in parts) for cid, parts in records.parts.items()}
    cases = [
        {
            "case_id": c.case_id,
            "campaign_id": c.campaign_id,
            "settlement_id": c.settlement_id,
            "period": periods.get(c.settlement_id, ""),
            "posts": posts.get(c.case_id, []),
            "members": len(group.members.get(c.case_id, set())),
            "money": c.held,
            "at_stake": c.at_stake,
            "status": c.status,
        }
        for c in group.cases
    ]
    everyone = group.all_members
    their_cases: dict[str, list[dict[str, str]]] = {m: [] for m in everyone}
    for case_id, settlement_id, post_id, status in stored.linked(None, [case_post_id(m) for m in everyone]):
        their_cases[post_id.removeprefix(ACCOUNT_POST_PREFIX)].append(
            {"case_id": case_id, "settlement_id": settlement_id, "status": str(status)}
        )
    return {
        "group_id": group.group_id,
        "cases": cases,
        "settlements": len({c.settlement_id for c in group.cases}),
        "members": [
            {
                "account_id": m,
                "in_cases": sum(m in found for found in group.members.values()),
                "cases": their_cases[m],
            }
            for m in everyone
        ],
        "money": sum((c.held for c in group.cases), _ZERO),
        "at_stake": sum((c.at_stake for c in group.cases if c.status == CaseStatus.OPEN), _ZERO),
    }
