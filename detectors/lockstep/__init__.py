"""Lockstep groups: accounts that engage the same posts in the same short windows, repeatedly.

CopyCatch / SynchroTrap style, in near-linear time and memory:

1. Events become engagements: one per (account, post), at its first event.
2. Each engagement gives two tokens (post, window bucket) on grids offset by half a
   window, so a burst shorter than half a window sits inside one bucket.  Tokens
   with fewer than ``min_accounts // 2`` accounts cannot host a group.
3. MinHash signatures of each token's account set (numpy, fixed seeds) and LSH
   bands put windows with overlapping audiences into buckets; a bucket spanning two
   or more posts is a seed.  A viral window is one token, never a quadratic set of
   account pairs, and each band partitions the tokens, so seeding and the
   vectorised seed screening cost ``n_bands`` times the number of engagements.
4. Seeds whose core fills their windows are grown (purest first) into accounts that
   share ``min_posts`` of the core's windows, then tested:

   - timing, per post (binomial): is the group tighter than an honest crowd reacting
     to one trigger can be?  A crowd with exponential delays of mean ``d`` puts at
     most ``1 - exp(-window_s / d)`` of itself in one window: ``d = fan_delay_s``
     for windows at the post's publication (fans), ``honest_delay_s`` otherwise.
     An account counts on a post only if it qualifies on the *other* posts, so
     choosing members through the post does not bias its test.
   - chance, per account (Poisson): is its presence in the group's windows more
     than its activity explains, given how popular the posts are without the group
     and how many of their other engagers fall in the same windows?

   Fan clubs fail the timing test, heavy honest users the chance test, and a viral
   burst is one post.  Accepted groups are regrown from their members, and groups
   that share accounts are merged, so one farm is one group.
5. A passing account's engagements on passing posts within a window of the burst
   are flagged, and all events of a flagged engagement share its score.
"""

from detectors.lockstep._detector import NAME, lockstep_groups
from detectors.lockstep._index import LockstepChance, lockstep_chance
from detectors.lockstep._params import LockstepParams

__all__ = ["NAME", "LockstepChance", "LockstepParams", "lockstep_chance", "lockstep_groups"]
