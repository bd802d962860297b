"""Deciding creator and group cases: the releases they plan, capped, and the labels they leave.

Each release goes through the correction service under ``review:<case id>:<post id>`` (held
money) or ``review:<case id>:<post id>:withheld`` (withheld money, ``release_withheld``), so a
retried decision replays them. Amounts are capped by what the post still holds or withholds,
not counting this case's own releases (a retry computes the same plan).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from detectors.memory import FARM_COLUMNS, farm_minimum, farm_values
from detectors.reputation import CLEARED, CONFIRMED
from serving.auth import Principal
from serving.db.database import as_utc, utcnow
from serving.db.models import ReputationEntry, ReputationSubject
from serving.detection import to_decimal
from serving.errors import Conflict, Invalid
from serving.review.account_cases import SettlementVerdicts, settlement_verdicts
from serving.review.evidence import flagged_accounts
from serving.review.outcomes import DecisionResult, adjustment_reason
from serving.review.recording import DecisionRecorder
from serving.review.rows import CaseRow
from serving.review.subjects import (
    CREATOR_PREFIX,
    GROUP_PREFIX,
    SellerGroup,
    creator_posts,
    group_money,
    seller_groups,
    settlement_lines,
)
from serving.schemas import AdjustmentIn
from serving.statuses import AdjustmentKind, CaseKind, ReviewAction

_ZERO = Decimal("0.00")
GROUPS_KEPT = 8  # settlements whose seller groups are kept in memory
EXCEPT_MARK = " [members excepted: "


@dataclass(frozen=True)
class Release:
    """One planned release of a decision: a post, the kind of money, how much."""

    post_id: str
    kind: AdjustmentKind
    amount: Decimal


@dataclass(frozen=True)
class SubjectPlan:
    """What deciding a creator or group case does: the releases of each action and the labels."""

    clear: list[Release]  # what clearing pays
    confirm: list[Release]  # what confirming pays (a group's excepted members; nothing else)
    labels_confirm: list[tuple[str, int]]
    labels_clear: list[tuple[str, int]]
    main_post: str

    @staticmethod
    def total(releases: list[Release]) -> Decimal:
        """The money a list of releases pays."""
        return sum((r.amount for r in releases), _ZERO)


def release_key(case_id: str, release: Release) -> str:
    """The Idempotency-Key of one release of a creator or group case."""
    suffix = ":withheld" if release.kind == AdjustmentKind.RELEASE_WITHHELD else ""
    return f"review:{case_id}:{release.post_id}{suffix}"


def with_exceptions(note: str, excepted: list[str]) -> str:
    """The note a group decision records: its text and, when any, the members excepted."""
    return f"{note}{EXCEPT_MARK}{', '.join(excepted)}]" if excepted else note


def split_exceptions(note: str) -> tuple[str, list[str]]:
    """A recorded group note's text and the members it excepted (``with_exceptions`` read back)."""
    head, mark, rest = note.rpartition(EXCEPT_MARK)
    if not mark or not rest.endswith("]"):
        return note, []
    return head, [m for m in rest[:-1].split(", ") if m]


class SubjectRecorder(DecisionRecorder):
    """Plans and records decisions on creator and group cases."""

    def __init__(self, **services: Any) -> None:
        super().__init__(**services)
        self._groups_kept: OrderedDict[str, tuple[SettlementVerdicts | None, list[SellerGroup]]] = (
            OrderedDict()
        )

    def subject_plan(self, case: CaseRow, *, excepted: list[str] | None = None) -> SubjectPlan:
        """What each action on a creator or group case pays, and labels (``excepted``: group members)."""
        if case.kind == CaseKind.CREATOR:
            return self._creator_plan(case)
        return self._group_plan(case, excepted=excepted or [])

    def settlement_groups(self, settlement_id: str) -> tuple[SettlementVerdicts | None, list[SellerGroup]]:
        """A settlement's verdicts and seller groups, kept for the last ``GROUPS_KEPT`` settlements
        (a settlement's detection run, so its verdicts and groups, never change)."""
        cache = self._groups_kept
        if settlement_id in cache:
            cache.move_to_end(settlement_id)
            return cache[settlement_id]
        verdicts = settlement_verdicts(
            settlement_id, settlements=self.settlements, campaigns=self.campaigns, detection=self.detection
        )
        found = (verdicts, seller_groups(verdicts) if verdicts is not None else [])
        cache[settlement_id] = found
        while len(cache) > GROUPS_KEPT:
            cache.popitem(last=False)
        return found

    def group_of(self, case: CaseRow) -> SellerGroup:
        """The seller group of a group case (409 when its run's verdicts cannot show it)."""
        _, groups = self.settlement_groups(case.settlement_id)
        key = case.post_id.removeprefix(GROUP_PREFIX)
        group = next((g for g in groups if g.key == key), None)
        if group is None:
            raise Conflict(f"the group of case {case.case_id} is not in its settlement's detection run")
        return group

    def _creator_plan(self, case: CaseRow) -> SubjectPlan:
        settlement = self.settlements.settlement(case.settlement_id)
        if settlement is None:
            raise Conflict(f"no settlement {case.settlement_id}")
        posts = creator_posts(settlement_lines(settlement.body), case.post_id.removeprefix(CREATOR_PREFIX))
        wanted = []
        for post_id, held, withheld in zip(
            posts["post_id"].astype("str"),
            posts["held_amount"].to_numpy(dtype="float64"),
            posts["withheld_amount"].to_numpy(dtype="float64"),
            strict=True,
        ):
            wanted.append(Release(post_id, AdjustmentKind.RELEASE, to_decimal(held)))
            wanted.append(Release(post_id, AdjustmentKind.RELEASE_WITHHELD, to_decimal(withheld)))
        try:
            verdicts = self.detection.verdicts(settlement.run_id) if settlement.run_id else None
        except Exception:
            verdicts = None
        doubted: list[str] = []
        if verdicts is not None:
            mine = verdicts.loc[
                (verdicts["campaign_id"].astype("str") == case.campaign_id)
                & verdicts["post_id"].astype("str").isin(list(posts["post_id"]))
            ]
            flagged = flagged_accounts(mine, review_risk=self.params(case).policy.review_risk)
            doubted = flagged.loc[flagged["is_invalid"], "account_id"].astype("str").tolist()
        return SubjectPlan(
            clear=self._capped(case, wanted),
            confirm=[],
            labels_confirm=[(a, 1) for a in doubted],
            labels_clear=[(a, 0) for a in doubted],
            main_post=str(posts["post_id"].iloc[0]) if len(posts) else "",
        )

    def _reputation(
        self, case: CaseRow, labels: list[tuple[str, int]], *, decided_at: datetime
    ) -> list[ReputationEntry | ReputationSubject]:
        """The accounts' labels, and for a farm group (``device_farm``, ``ip_farm``) its devices or IPs:
        confirmed when any member is, else cleared. The farm's values are read from the store; when
        they cannot be, the accounts' labels are remembered alone (the decision stands)."""
        entries = super()._reputation(case, labels, decided_at=decided_at)
        if not entries or case.kind != CaseKind.GROUP:
            return entries
        try:
            farms = self._farm_entries(case, labels, established_at=entries[0].established_at)
        except Exception:
            logging.getLogger(__name__).exception("farm of group case %s not remembered", case.case_id)
            return entries
        return [*entries, *farms]

    def _farm_entries(
        self, case: CaseRow, labels: list[tuple[str, int]], *, established_at: datetime
    ) -> list[ReputationSubject]:
        group = self.group_of(case)
        settlement = self.settlements.settlement(case.settlement_id)
        if group.reason not in FARM_COLUMNS or settlement is None:
            return []
        kind, column = FARM_COLUMNS[group.reason]
        events = self.detection.stored_events(
            start=as_utc(settlement.period_start),
            end=as_utc(settlement.period_end),
            campaign_id=case.campaign_id,
        )
        minimum = farm_minimum(self.params(case), group.reason)
        found = farm_values(events, members=group.members, posts=group.posts, column=column, minimum=minimum)
        verdict = CONFIRMED if any(label == 1 for _, label in labels) else CLEARED
        now = utcnow()
        return [
            ReputationSubject(
                subject_kind=kind,
                subject_id=value,
                platform=case.platform,
                detail=f"farm of {n} accounts",
                verdict=verdict,
                source="case",
                source_id=case.case_id,
                established_at=established_at,
                recorded_at=now,
            )
            for value, n in sorted(found.items())
        ]

    def _group_plan(self, case: CaseRow, *, excepted: list[str]) -> SubjectPlan:
        verdicts, _ = self.settlement_groups(case.settlement_id)
        group = self.group_of(case)
        assert verdicts is not None
        unknown = sorted(set(excepted) - set(group.members))
        if unknown:
            raise Invalid(f"except: {', '.join(unknown)} not a member of this group")

        def releases(members: set[str]) -> list[Release]:
            money = group_money(verdicts, group, members)
            wanted = [
                Release(str(p), AdjustmentKind(k), to_decimal(a)) for p, k, a in money.itertuples(index=False)
            ]
            return self._capped(case, wanted)

        return SubjectPlan(
            clear=releases(set(group.members)),
            confirm=releases(set(excepted)) if excepted else [],
            labels_confirm=[(m, 0 if m in excepted else 1) for m in group.members],
            labels_clear=[(m, 0) for m in group.members],
            main_post=group.main_post,
        )

    def _capped(self, case: CaseRow, wanted: list[Release]) -> list[Release]:
        """Each release capped by what its post still holds or withholds (this case's own releases aside)."""
        wanted = [r for r in wanted if r.amount > 0]
        if not wanted:
            return []
        settlement = self.settlements.settlement(case.settlement_id)
        assert settlement is not None
        posts = sorted({r.post_id for r in wanted})
        lines = settlement_lines(settlement.body).set_index("post_id")
        own = f"review:{case.case_id}:"
        used: dict[tuple[str, str], Decimal] = {}
        for post_id, kind, amount, key in self.settlements.post_adjustments(case.settlement_id, posts):
            if not (key or "").startswith(own):
                used[(post_id, str(kind))] = used.get((post_id, str(kind)), _ZERO) + Decimal(str(amount))
        out = []
        for r in wanted:
            column = "held_amount" if r.kind == AdjustmentKind.RELEASE else "withheld_amount"
            room = to_decimal(float(lines[column].get(r.post_id, 0.0))) - used.get(
                (r.post_id, str(r.kind)), _ZERO
            )
            amount = min(r.amount, room)
            if amount > 0:
                out.append(Release(r.post_id, r.kind, amount.quantize(Decimal("0.01"))))
        return out

    def record_subject(
        self,
        case: CaseRow,
        *,
        action: ReviewAction,
        note: str,
        actor: Principal,
        excepted: list[str] | None = None,
        decided_at: datetime | None = None,
        recovered_by: Principal | None = None,
    ) -> DecisionResult:
        """Confirm or clear a creator or group case: its releases through corrections, then the decision."""
        if action not in (ReviewAction.CONFIRM_FRAUD, ReviewAction.CLEAR):
            raise Invalid(f"action: a {case.kind} case is confirmed or cleared, not {action!r}")
        excepted = sorted(set(excepted or []))
        if excepted and (case.kind != CaseKind.GROUP or action != ReviewAction.CONFIRM_FRAUD):
            raise Invalid("except: members are excepted only when confirming a group")
        plan = self.subject_plan(case, excepted=excepted)
        releases = plan.clear if action == ReviewAction.CLEAR else plan.confirm
        note = with_exceptions(note, excepted)
        ids = []
        for release in releases:
            answer = self.corrections.adjust(
                case.settlement_id,
                AdjustmentIn(
                    post_id=release.post_id,
                    kind=release.kind,
                    amount=release.amount,
                    reason=adjustment_reason(case.case_id, action, note),
                ),
                idempotency_key=release_key(case.case_id, release),
                actor=actor,
            )
            ids.append(str(json.loads(answer.body)["adjustment_id"]))
        return self._write_decision(
            case,
            action=action,
            release=SubjectPlan.total(releases),
            adjustment_id=ids[0] if ids else None,
            note=note,
            actor=actor,
            decided_at=decided_at or utcnow(),
            recovered_by=recovered_by,
            label_post=plan.main_post,
            adjustment_ids=ids,
            labels=plan.labels_confirm if action == ReviewAction.CONFIRM_FRAUD else plan.labels_clear,
        )
