"""Seller groups linked across settlements: a group found again joins the group it was found as.

Rule (declared once): a new group case joins an existing seller group when they share at least
``MIN_SHARED`` members and the shared members are at least ``ServiceConfig.review_group_overlap``
(default 0.5) of the smaller of the two member sets (the overlap coefficient); of several such
groups, the one with the highest overlap, then the oldest. Otherwise it starts a new group. A
group's members are the union of its cases' members, so a group that grows is still found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from serving.db.database import utcnow
from serving.db.models import ReviewCase, ReviewGroupLink

MIN_SHARED = 2


def overlap(a: set[str], b: set[str]) -> float:
    """The overlap coefficient of two member sets: shared members over the smaller set's size."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def is_same_group(a: set[str], b: set[str], *, threshold: float) -> bool:
    """Whether two member sets are one seller group found again (the module's rule)."""
    return len(a & b) >= MIN_SHARED and overlap(a, b) >= threshold


def members_text(members: Iterable[str]) -> str:
    """Members as a link stores them: sorted, ';'-joined."""
    return ";".join(sorted(set(members)))


@dataclass
class GroupIndex:
    """The known seller groups and their members, in the order they were first seen."""

    members: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, links: Sequence[tuple[str, str, str]]) -> GroupIndex:
        """The groups of stored links (case_id, group_id, members)."""
        index = cls()
        for _, group_id, members in links:
            index.members.setdefault(group_id, set()).update(m for m in members.split(";") if m)
        return index

    def find(self, members: set[str], *, threshold: float) -> str | None:
        """The known group these members are (None: a new one)."""
        best, best_overlap = None, 0.0
        for group_id, known in self.members.items():
            if is_same_group(members, known, threshold=threshold) and overlap(members, known) > best_overlap:
                best, best_overlap = group_id, overlap(members, known)
        return best

    def link(self, case: ReviewCase, members: Iterable[str], *, overlap: float) -> ReviewGroupLink:
        """Link a new group case to the group its members are, or to a new group; remembered here."""
        mine = set(members)
        group_id = self.find(mine, threshold=overlap)
        if group_id is None:
            group_id = "sg_" + hashlib.sha256(f"{case.id}\x1f{members_text(mine)}".encode()).hexdigest()[:20]
        self.members.setdefault(group_id, set()).update(mine)
        return ReviewGroupLink(
            case_id=case.id, group_id=group_id, members=members_text(mine), created_at=utcnow()
        )
