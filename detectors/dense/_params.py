"""Every knob of the dense-block detector, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DenseBlockParams:
    """The thresholds of ``dense_blocks``; the defaults are the production values."""

    max_blocks: int = 20  # most blocks reported per window
    min_accounts: int = 10  # smallest block reported, in accounts
    min_posts: int = 3  # smallest block reported, in posts
    min_lift: float = 2.5  # least ratio of the block's edges to the null's (Chung-Lu plus fan allowance)
    max_p_value: float = 0.01  # level of the scan-corrected Poisson test of the edge count
    min_account_share: float = 0.3  # share of the block's posts a member account must engage
    min_post_share: float = 0.3  # share of the block's accounts that must engage a member post
    min_member_edges: int = 2  # edges into the block a member account or post needs at least
    min_account_creators: int = 2  # block creators a member account must reach (when creators are known)
    member_lift: float = 3.0  # members hold this many times their own Chung-Lu share of the block's edges
    max_settle_rounds: int = 30  # rounds of the membership rules before a block is taken as settled
    max_rounds_without_block: int = 3  # stop after this many peeling rounds in a row found nothing
    max_pieces_per_round: int = 50  # connected pieces of one peeled set settled and tested, largest first
    weight_offset: float = 5.0  # c in FRAUDAR's edge weight 1 / log(post_degree + c)
    fan_discount: bool = True  # weigh an edge by 1 - s**2, s the account's share of edges on that creator
    null_penalty: float = 1.0  # peel on f(S) - null_penalty * E[f(S)] under Chung-Lu; 0 is FRAUDAR's f
    post_cost: float = 3.0  # a post counts this many times in the size dividing the peeling score
    eps: float = 0.05  # a peeling round drops nodes within 1 + eps of the average marginal
    max_drop_share: float = 0.1  # most of the live nodes one peeling round drops
