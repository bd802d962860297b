"""A case's money per post (``review_case_posts``): what it keeps held and withheld on each post of
its settlement, beside what the settlement line itself keeps.

Cases of one kind never share an engagement (one case per post, per creator, per account; a group is
one reason and evidence), so the queue counts each post's money once: per post, the largest of its
kinds' sums, at most what the line keeps. A case's money still kept on a post is capped by what the
line still keeps after every release on it (other cases' too): what clearing it could still pay.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pandas as pd

from serving.db.models import ReviewCase, ReviewCasePost
from serving.detection import to_decimal
from serving.review.account_cases import SettlementVerdicts, account_lines
from serving.review.subjects import SellerGroup, creator_posts, group_money
from serving.statuses import AdjustmentKind, CaseKind

_ZERO = Decimal("0.00")


def _row(case: ReviewCase, post_id: str, held: float, withheld: float, lines: pd.DataFrame) -> ReviewCasePost:
    return ReviewCasePost(
        case_id=case.id,
        post_id=post_id,
        settlement_id=case.settlement_id,
        kind=str(case.kind),
        held=to_decimal(held),
        withheld=to_decimal(withheld),
        line_held=to_decimal(float(lines["held_amount"].get(post_id, 0.0))),
        line_withheld=to_decimal(float(lines["withheld_amount"].get(post_id, 0.0))),
    )


def post_case_money(case: ReviewCase, lines: pd.DataFrame) -> list[ReviewCasePost]:
    """A held post's case: the post's held money (``lines`` indexed by post_id)."""
    return [_row(case, case.post_id, float(lines["held_amount"].get(case.post_id, 0.0)), 0.0, lines)]


def creator_case_money(case: ReviewCase, lines: pd.DataFrame) -> list[ReviewCasePost]:
    """A creator's case: each of its posts' held and withheld money."""
    posts = creator_posts(lines.reset_index(), case.creator_id)
    kept = posts.loc[(posts["held_amount"] + posts["withheld_amount"]).round(2) > 0]
    return [
        _row(case, str(p), float(h), float(w), lines)
        for p, h, w in zip(kept["post_id"], kept["held_amount"], kept["withheld_amount"], strict=True)
    ]


def group_case_money(
    case: ReviewCase, verdicts: SettlementVerdicts, group: SellerGroup, lines: pd.DataFrame
) -> list[ReviewCasePost]:
    """A group's case: its engagements' money per post (held on held posts, withheld elsewhere)."""
    money = group_money(verdicts, group, set(group.members))
    out = []
    for post_id, kind, amount in money.itertuples(index=False):
        is_held = kind == AdjustmentKind.RELEASE.value
        out.append(_row(case, str(post_id), amount if is_held else 0.0, 0.0 if is_held else amount, lines))
    return out


def account_case_money(
    cases: Iterable[ReviewCase], verdicts: SettlementVerdicts, lines: pd.DataFrame
) -> list[ReviewCasePost]:
    """Account cases: each account's money per post (held on held posts, withheld elsewhere)."""
    by_account = {c.account_id: c for c in cases if c.kind == CaseKind.ACCOUNT}
    if not by_account:
        return []
    frame = account_lines(verdicts, {str(a) for a in by_account})
    held = np.isin(frame["post_id"].astype("str").to_numpy(), sorted(verdicts.held_posts))
    out = []
    for (account_id, post_id, money), is_held in zip(
        frame[["account_id", "post_id", "at_stake"]].itertuples(index=False), held, strict=True
    ):
        if round(float(money), 2) > 0:
            case = by_account[str(account_id)]
            out.append(_row(case, str(post_id), money if is_held else 0.0, 0.0 if is_held else money, lines))
    return out


def still_kept(
    parts: list[ReviewCasePost], own: dict[tuple[str, str], Decimal], others: dict[tuple[str, str], Decimal]
) -> Decimal:
    """What a case still keeps: per post and kind of money, its part less its own releases, at most
    what the line keeps less every release on it (``own``/``others``: (post_id, kind) -> net released)."""
    total = _ZERO
    for part in parts:
        for kind, mine, line in (
            (AdjustmentKind.RELEASE, part.held, part.line_held),
            (AdjustmentKind.RELEASE_WITHHELD, part.withheld, part.line_withheld),
        ):
            if mine <= 0:
                continue
            key = (part.post_id, str(kind))
            mine_left = mine - own.get(key, _ZERO)
            line_left = line - own.get(key, _ZERO) - others.get(key, _ZERO)
            total += max(min(mine_left, line_left), _ZERO)
    return total
