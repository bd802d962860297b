"""A review case as the queue and the case page show it: the stored case plus money and sign-off.

A post case's released money is every release on its post; an account case's is the releases made
under its own Idempotency-Keys (``review:<case id>:<post id>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Row

from serving.db.cases import CaseRecords
from serving.db.database import as_utc
from serving.db.models import ReviewCase
from serving.review.case_money import still_kept
from serving.statuses import AdjustmentKind, CaseKind

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CaseRow:
    """A case as the queue and the case page show it."""

    case_id: str
    settlement_id: str
    post_id: str  # an account case: ``account:<account id>``
    kind: str  # post or account
    account_id: str | None
    campaign_id: str
    platform: str
    creator_id: str
    reasons: list[str]
    needs_signoff: bool
    held: Decimal
    released: Decimal
    at_stake: Decimal
    cutoff_at: datetime
    time_left: timedelta
    status: str
    assignee: str | None
    assignee_name: str | None
    locked_until: datetime | None
    signed_off_by: str | None
    signed_off_at: datetime | None
    is_sample: bool = False
    sample: str | None = None  # audit, uncertain or dispute (serving.statuses.CaseSample); None: flagged
    sampled_with_probability: float | None = None  # recorded when it was queued as a sample

    @property
    def awaits_signoff(self) -> bool:
        """Whether the case's settlement needs a sign-off that nobody has given yet."""
        return self.needs_signoff and self.signed_off_at is None

    def is_locked_by_other(self, key_id: str, now: datetime) -> bool:
        """Whether another reviewer holds a live lock on this case."""
        return (
            self.assignee is not None
            and self.assignee != key_id
            and self.locked_until is not None
            and self.locked_until > now
        )


def case_rows(records: CaseRecords, *, now: datetime) -> list[CaseRow]:
    """Rows of stored cases, with what was released on each post and their settlements' sign-offs.

    A case with money per post (``serving.review.case_money``) is at stake for what it still keeps
    on each post, at most what the post still keeps after every release on it (other cases' too).
    """
    released = _released(records.releases)
    by_post = _net_by_post(records.releases)
    rows = []
    for case in records.cases:
        row = _row(case, released, records.signoffs, now)
        parts = records.parts.get(case.id)
        if parts:
            own = _net_by_post(records.releases, case_id=case.id).get(case.settlement_id, {})
            every = by_post.get(case.settlement_id, {})
            others = {k: v - own.get(k, _ZERO) for k, v in every.items()}
            row = replace(row, at_stake=still_kept(parts, own, others))
        rows.append(row)
    return rows


def _net_by_post(
    releases: Iterable[Row[str, str, str | None, Decimal, AdjustmentKind]], *, case_id: str | None = None
) -> dict[str, dict[tuple[str, str], Decimal]]:
    """Net released money per settlement and (post_id, kind): every release, or one case's own
    (its keys ``review:<case id>`` and ``review:<case id>:...``); a reversal counts negative."""
    out: dict[str, dict[tuple[str, str], Decimal]] = {}
    for settlement_id, post_id, key, amount, kind in releases:
        if case_id is not None and not is_own_key(key, case_id):
            continue
        mine = out.setdefault(settlement_id, {})
        mine[(post_id, str(kind))] = mine.get((post_id, str(kind)), _ZERO) + Decimal(str(amount))
    return out


def is_own_key(key: str | None, case_id: str) -> bool:
    """Whether an adjustment's Idempotency-Key is one of a case's own releases."""
    return key is not None and (key == f"review:{case_id}" or key.startswith(f"review:{case_id}:"))


def account_case_key(case_id: str, post_id: str) -> str:
    """The Idempotency-Key of an account case's release on one held post."""
    return f"review:{case_id}:{post_id}"


def _released(
    releases: Iterable[Row[str, str, str | None, Decimal, AdjustmentKind]],
) -> dict[tuple[str, str], Decimal]:
    """Released held money per (settlement, post), and money released per (settlement, ``case:<id>``)
    by account, creator and group cases (held and withheld)."""
    out: dict[tuple[str, str], Decimal] = {}
    for settlement_id, post_id, key, amount, kind in releases:
        money = Decimal(str(amount)).quantize(Decimal("0.01"))
        if kind == AdjustmentKind.RELEASE:
            out[(settlement_id, post_id)] = out.get((settlement_id, post_id), _ZERO) + money
        parts = (key or "").split(":")
        if len(parts) >= 3 and parts[0] == "review":  # a release of a case about more than one post
            mine = (settlement_id, f"case:{parts[1]}")
            out[mine] = out.get(mine, _ZERO) + money
    return out


def _row(
    case: ReviewCase,
    released_by_post: dict[tuple[str, str], Decimal],
    signoffs: dict[str, tuple[str, datetime]],
    now: datetime,
) -> CaseRow:
    cutoff = as_utc(case.cutoff_at)
    own = case.post_id if case.kind == CaseKind.POST else f"case:{case.id}"
    released = released_by_post.get((case.settlement_id, own), _ZERO)
    signoff = signoffs.get(case.settlement_id)
    return CaseRow(
        case_id=case.id,
        settlement_id=case.settlement_id,
        post_id=case.post_id,
        kind=case.kind,
        account_id=case.account_id,
        campaign_id=case.campaign_id,
        platform=case.platform,
        creator_id=case.creator_id,
        reasons=[r for r in case.reasons.split(";") if r],
        needs_signoff=case.needs_signoff,
        held=case.held_amount,
        released=released,
        at_stake=max(case.held_amount - released, _ZERO),
        cutoff_at=cutoff,
        time_left=cutoff - now,
        status=case.status,
        assignee=case.assignee,
        assignee_name=case.assignee_name,
        locked_until=as_utc(case.locked_until) if case.locked_until else None,
        signed_off_by=signoff[0] if signoff else None,
        signed_off_at=signoff[1] if signoff else None,
        is_sample=bool(case.is_sample),
        sample=str(case.sample) if case.sample else ("audit" if case.is_sample else None),
        sampled_with_probability=case.sampled_with_probability,
    )
