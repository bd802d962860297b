"""Mutual-engagement rings ("pods"): creators whose accounts engage each other's posts, repeatedly.

A ring is a group of creators of one platform, each with its own account and a
few alts, who engage every member's posts so that everybody's paid engagement is
inflated.  A ring leaves two traces in a window, and must show both:

1. **Reciprocity** on the creator graph.  A creator's accounts are its own account
   plus the accounts sharing a rare device or IP with it (:mod:`features.graph`).
   Creators whose accounts engaged each other's posts are tied; triangles of ties
   that share an edge chain into communities (clique percolation), and each
   community is peeled until every member is tied to ``min_tie_share`` of the
   others and both gives and receives engagement inside the group.
2. **A concentrated pool** of other accounts: accounts that engaged several
   members and little else (``min_account_focus``), more than their activity
   explains.  The null is local to the group's audience, so niche fans of
   popular creators, who share engagers by chance, are no evidence.  The pool
   test counts creator units, not creators: a studio's creators (``posts.studio_id``)
   are one unit, so an account's hits are the units among the members it engaged
   and its activity the units it engaged, and the studio's fans, who engage
   several of its creators, are no more concentrated on a ring holding some of
   them than on the studio.

Significance, per group, against what degrees predict by chance:

- reciprocal engagement: events by members' accounts on other members' posts
  against ``sum out(A) * in(B) / events on the platform`` (Poisson tail);
- pool: accounts whose concentration passes an adaptive binomial threshold,
  against the number chance predicts from the engagers' degrees (Poisson tail);
- coverage: members' accounts engaged at least ``min_coverage`` of the other
  members' posts (a pod engages every post; studio-mates now and then);
- at least ``min_alt_accounts`` ring accounts besides the creators' own.

A ring that passes is regrouped around its pool and tested again: its creators
are the members whose posts ``min_member_pool_share`` of the pool engaged (a
pod's accounts engage every member's posts; a studio-mate tied to the ring by
cross-promotion alone is left out) and the free creators whose posts
``min_pool_share`` of it engaged and that reciprocate with a kept member.  Scored: events
by ring accounts (members' own accounts, their associated accounts that engaged
another member, the pool) on the ring's posts.  Everything else, including the
members' honest audience, scores 0.
"""

from detectors.rings._detector import NAME, ring_creators, rings
from detectors.rings._params import RingParams

__all__ = ["NAME", "RingParams", "ring_creators", "rings"]
