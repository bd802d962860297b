"""The money decision: per post pay, discount (only valid engagements) or hold for review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import codes, distinct_counts, distinct_first, distinct_inverse, is_in
from features.columns import PAID_ACTIONS

if TYPE_CHECKING:
    from detectors.params import PolicyParams

PRICE_COLUMNS = {action: f"price_{action}" for action in PAID_ACTIONS}
# invalid (never paid) but no fault of the engaging account or the creator: the platform
# counting one engagement twice (a re-count, features/dedup.py) says nothing about either
NOT_ACCOUNT_FAULT_REASONS = frozenset({"duplicate"})
# the columns that make a post: decisions are per (campaign_id, post_id, creator_id)
POST_KEY = ("campaign_id", "post_id", "creator_id")
# how close to the invalid cut an account's risk must lie to be an uncertain case (active learning):
# the review queue's uncertain sample (serving/review/opening.py) and the simulated review sample
# (training/review_sample.py) both use ``near_cut``
UNCERTAIN_MARGIN = 0.15


def near_cut(risk: np.ndarray | pd.Series | float, cut: float) -> np.ndarray:
    """Whether each risk lies within ``UNCERTAIN_MARGIN`` of ``cut`` (either side): an uncertain case."""
    return np.abs(np.asarray(risk, dtype=np.float64) - cut) <= UNCERTAIN_MARGIN


def unit_prices(
    engagements: pd.DataFrame, campaigns: pd.DataFrame | None, *, default_unit_price: float
) -> np.ndarray:
    """The unit price of each engagement: its campaign's price for its action, 0 if not paid."""
    is_paid = is_in(engagements["action"], PAID_ACTIONS)
    price = np.where(is_paid, default_unit_price, 0.0)
    if campaigns is None or campaigns.empty:
        return price
    table = campaigns.set_index("campaign_id")[list(PRICE_COLUMNS.values())]
    table.columns = list(PRICE_COLUMNS)
    long = table.stack()
    keys = pd.MultiIndex.from_arrays([engagements["campaign_id"], engagements["action"]])
    found = long.reindex(keys).to_numpy(dtype=np.float64)
    return np.where(is_paid, np.where(np.isnan(found), default_unit_price, found), 0.0)


def held_engagements(
    engagements: pd.DataFrame, *, policy: PolicyParams, keys: PostKeys | None = None
) -> npt.NDArray[np.bool_]:
    """Which engagements wait for review (valid and paid, on a held post), one flag per row.

    What waits is what is in doubt, in proportion to the doubt: an uncertain engagement
    (risk between ``review_risk`` and ``invalid_risk``) waits on its own, and when much
    of a post is uncertain (``hold_uncertain_share`` of its claimed engagements) the
    doubt is material and all of its valid engagements wait. On a post nearly all
    invalid (``hold_invalid_share``) its valid rest is doubted by association, and the
    part of it with evidence near the cut (risk strictly within ``hold_rest_margin`` of
    ``invalid_risk``: what a seller's bots that escaped the group tests carry) waits too. What no detector
    doubts is paid, wherever it is: a bought post's real fans are the creator's pay.
    ``keys``: ``post_keys(engagements)`` when the caller has it already.
    """
    is_paid = is_in(engagements["action"], PAID_ACTIONS)
    copies = engagements["copies"].to_numpy()
    invalid = engagements["invalid"].to_numpy(dtype=bool)
    risk = engagements["risk"].to_numpy(dtype=np.float64)
    is_valid = is_paid & ~invalid
    is_uncertain = is_valid & (risk >= policy.review_risk) & (risk < policy.invalid_risk)
    code = (post_keys(engagements) if keys is None else keys).code
    n_posts = int(code.max()) + 1 if len(code) else 0
    claimed = np.bincount(code, weights=np.where(is_paid, copies, 0), minlength=n_posts)
    valid = np.bincount(code, weights=is_valid, minlength=n_posts)
    uncertain = np.bincount(code, weights=is_uncertain, minlength=n_posts)
    invalid_share = np.where(claimed > 0, 1.0 - valid / np.maximum(claimed, 1), 0.0)
    held_whole = uncertain / np.maximum(claimed, 1) >= policy.hold_uncertain_share
    nearly_invalid = invalid_share >= policy.hold_invalid_share
    is_near = risk > round(policy.invalid_risk - policy.hold_rest_margin, 12)
    is_doubted = is_uncertain | (nearly_invalid[code] & is_near)
    return is_valid & (held_whole[code] | is_doubted)


def decide_posts(
    engagements: pd.DataFrame,
    *,
    price: np.ndarray,
    policy: PolicyParams,
    held: npt.NDArray[np.bool_] | None = None,
    keys: PostKeys | None = None,
) -> pd.DataFrame:
    """One decision per post from scored engagements (one row per distinct event_id).

    ``claimed`` counts every reported paid engagement, replays included; ``valid``
    those not invalid. Clear verdicts are settled at once: invalid engagements
    are withheld (``discount``) and the rest paid. A post is ``hold`` when some of
    its valid engagements wait for review (``held_engagements``: the doubted ones,
    all of them when the doubt is much of the post); ``held_amount`` is what waits
    and ``payable`` the rest, paid at once.
    ``held``: ``held_engagements`` when the caller has it already; ``keys``: ``post_keys``
    (a settlement slices its run's, computed once per run).
    """
    is_paid = is_in(engagements["action"], PAID_ACTIONS)
    copies = engagements["copies"].to_numpy()
    invalid = engagements["invalid"].to_numpy(dtype=bool)
    if keys is None:
        keys = post_keys(engagements)
    if held is None:
        held = held_engagements(engagements, policy=policy, keys=keys)
    posts = _post_sums(
        keys,
        {
            "claimed": np.where(is_paid, copies, 0),
            "valid": (is_paid & ~invalid).astype(np.int64),
            "claimed_amount": price * copies,
            "valid_amount": np.where(invalid, 0.0, price),
            "held_sum": np.where(held, price, 0.0),
            "n_held": held.astype(np.int64),
            "risk_sum": np.where(is_paid, engagements["risk"].to_numpy() * copies, 0.0),
        },
    )
    claimed = posts["claimed"].to_numpy()
    invalid_share = np.where(claimed > 0, 1.0 - posts["valid"].to_numpy() / np.maximum(claimed, 1), 0.0)
    is_hold = posts["n_held"].to_numpy() > 0
    decision = np.where(is_hold, "hold", np.where(posts["valid"] < claimed, "discount", "pay"))
    posts["risk"] = np.clip(invalid_share, 0.0, 1.0)
    posts["mean_event_risk"] = np.where(claimed > 0, posts["risk_sum"] / np.maximum(claimed, 1), 0.0)
    posts["decision"] = pd.Series(decision, dtype="str")
    posts["payable"] = (posts["valid_amount"] - posts["held_sum"]).clip(lower=0.0).round(6)
    posts["held_amount"] = posts["held_sum"].round(6)
    posts["withheld_amount"] = (posts["claimed_amount"] - posts["payable"]).round(6)
    posts["reasons"] = _reasons_per_post(engagements, invalid).reindex(posts["post_id"]).fillna("").to_numpy()
    posts["reasons"] = posts["reasons"].astype("str")
    return posts.drop(columns=["risk_sum", "held_sum", "n_held"])


@dataclass(frozen=True)
class PostKeys:
    """Each row's post, numbered once for a frame and sliced with it.

    ``code``: per row, the number of its (campaign_id, post_id, creator_id) in the order a
    sorted groupby of the three gives (categories' order for categorical columns, missing
    values alike); ``is_keyed``: per row, none of the three is missing (a groupby drops the
    others); ``labels``: the three columns of one row per number, as the frame holds them.
    """

    code: npt.NDArray[np.int64]
    is_keyed: npt.NDArray[np.bool_]
    labels: pd.DataFrame

    def take(self, rows: slice | npt.NDArray[np.bool_]) -> PostKeys:
        """The keys of the rows ``rows`` selects (a slice or a mask); the numbers stay the same."""
        return PostKeys(code=self.code[rows], is_keyed=self.is_keyed[rows], labels=self.labels)


def post_keys(engagements: pd.DataFrame) -> PostKeys:
    """Each row's post number (``PostKeys``) by one sort of the columns' sorted codes packed in one
    key (in turn when too wide to pack)."""
    key = np.zeros(len(engagements), dtype=np.int64)
    is_keyed = np.ones(len(engagements), dtype=bool)
    width = 1
    for column in POST_KEY:
        code = _sorted_codes(engagements[column])
        is_keyed &= code >= 0
        code = code + 1
        n_codes = int(code.max(initial=0)) + 1
        if width * n_codes >= 2**62:
            key, width = distinct_inverse(key)[1], len(engagements) + 1
        key, width = key * n_codes + code, width * n_codes
    _, first, number = distinct_first(key)
    labels = engagements[list(POST_KEY)].iloc[first].reset_index(drop=True)
    return PostKeys(code=number, is_keyed=is_keyed, labels=labels)


def _sorted_codes(values: pd.Series) -> npt.NDArray[np.int64]:
    """Integer codes in a sorted groupby's order, -1 where missing (categories' codes when categorical)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return codes(values)
    return np.asarray(pd.factorize(values, sort=True)[0], dtype=np.int64)


def _post_sums(keys: PostKeys, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per post with a row (in ``keys``' order): its three ids, then each column summed over its rows
    in row order (pandas' sums: the same floats as a groupby of the ids)."""
    # every row keyed (as a window's engagements are): the columns as they are, no masked copies
    keyed = slice(None) if keys.is_keyed.all() else keys.is_keyed
    frame = pd.DataFrame({name: values[keyed] for name, values in columns.items()})
    sums = frame.groupby(keys.code[keyed], sort=True).sum()
    labels = keys.labels.iloc[sums.index.to_numpy()].reset_index(drop=True)
    return pd.concat([labels, sums.reset_index(drop=True)], axis=1)


def _reasons_per_post(engagements: pd.DataFrame, invalid: np.ndarray) -> pd.Series:
    """Reason codes of a post's invalid engagements, most frequent first, joined by ';'."""
    return _top_reasons(engagements.loc[invalid, ["post_id", "reason"]], key="post_id")


def flag_accounts(
    engagements: pd.DataFrame,
    *,
    policy: PolicyParams,
    is_bought: np.ndarray | None = None,
    ring_creators: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Engaging accounts and creators with risk, whether to review them, and why.

    An engager's risk is the highest risk among its engagements, leaving out those
    invalid only for a reason in ``NOT_ACCOUNT_FAULT_REASONS`` (a re-count stays
    invalid and unpaid, but is the platform's doing, not the account's); it is
    flagged when that risk reaches ``account_flag_risk`` and at least one of its
    invalid engagements has a reason that is its fault, and its ``reasons`` are
    those reasons. A creator's risk
    is the largest share, over its posts with at least ``creator_min_post_claimed``
    claimed engagements, of claimed engagement found invalid for reasons a
    creator can be responsible for (not the platform's own replays): a buyer
    buys for a post, and camouflage from bots a creator did not buy stays a small
    share of a popular post. ``is_bought`` narrows what counts to engagements
    caught on the post itself (not only through their account's record elsewhere).
    Members of a detected ring are buyers outright.
    """
    invalid = engagements["invalid"].to_numpy(dtype=bool)
    is_no_fault = invalid & is_in(engagements["reason"], tuple(NOT_ACCOUNT_FAULT_REASONS))
    is_at_fault = invalid & ~is_no_fault
    users = _engagers(engagements, is_no_fault, is_at_fault, policy=policy)
    is_buying = is_at_fault if is_bought is None else is_at_fault & is_bought
    creators = _creators(engagements, is_buying, policy=policy, ring_creators=ring_creators)
    columns = ["account_id", "role", "risk", "flagged", "reasons"]
    accounts = pd.concat([users[columns], creators[columns]], ignore_index=True)
    accounts["account_id"] = accounts["account_id"].astype("str")
    accounts["role"] = accounts["role"].astype("str")
    accounts["risk"] = accounts["risk"].astype("float64").clip(0.0, 1.0)
    accounts["flagged"] = accounts["flagged"].astype(bool)
    return accounts


def _engagers(
    engagements: pd.DataFrame,
    is_no_fault: npt.NDArray[np.bool_],
    is_at_fault: npt.NDArray[np.bool_],
    *,
    policy: PolicyParams,
) -> pd.DataFrame:
    """``flag_accounts``' engager rows: risk, flagged and reasons per engaging account, in the order of a
    sorted groupby of the accounts (on their codes: no hashing of the ids)."""
    account = _sorted_codes(engagements["user_id"])
    has = account >= 0
    n_codes = int(account.max(initial=-1)) + 1
    # a re-count's risk comes from the duplicate rule; the engagement it repeats
    # is the account's own row and carries what the other detectors found
    row_risk = np.where(is_no_fault, 0.0, engagements["risk"].to_numpy(dtype=np.float64))
    risk = np.full(n_codes, np.nan)  # the largest risk, missing ones left out (as a groupby's max)
    np.fmax.at(risk, account[has], row_risk[has])
    n_at_fault = np.bincount(account[has], weights=is_at_fault[has], minlength=n_codes).astype(np.int64)
    first = np.full(n_codes, -1, dtype=np.int64)  # each account's first row, for its id
    rows = np.flatnonzero(has)[::-1]
    first[account[rows]] = rows
    seen = np.flatnonzero(first >= 0)
    at_fault = is_at_fault & has
    reasons = _top_reasons(
        pd.DataFrame({"account": account[at_fault], "reason": engagements["reason"].array[at_fault]}),
        key="account",
    )
    users = pd.DataFrame(
        {
            "account_id": engagements["user_id"].array[first[seen]],
            "risk": risk[seen],
            "n_at_fault": n_at_fault[seen],
        }
    )
    users["role"] = "engager"
    users["flagged"] = (users["risk"] >= policy.account_flag_risk) & (users["n_at_fault"] > 0)
    users["reasons"] = reasons.reindex(seen).fillna("").astype("str").array
    return users


def _creators(
    engagements: pd.DataFrame,
    is_buying: npt.NDArray[np.bool_],
    *,
    policy: PolicyParams,
    ring_creators: frozenset[str],
) -> pd.DataFrame:
    """``flag_accounts``' creator rows: the largest bought share of a post's claimed engagement."""
    is_paid = is_in(engagements["action"], PAID_ACTIONS)
    per_post = (
        pd.DataFrame(
            {
                "account_id": engagements["creator_id"].array,
                "post_id": engagements["post_id"].array,
                "claimed": is_paid.astype(np.int64),
                "bought": (is_paid & is_buying).astype(np.int64),
            }
        )
        .groupby(["account_id", "post_id"], sort=True, observed=True)
        .sum()
    )
    share = per_post["bought"] / per_post["claimed"].clip(lower=1)
    share = share.where(per_post["claimed"] >= policy.creator_min_post_claimed, 0.0)
    creators = pd.DataFrame({"risk": share.groupby(level="account_id", observed=True).max()})
    in_ring = creators.index.astype("str").isin(list(ring_creators))
    creators.loc[in_ring, "risk"] = 1.0
    creators["role"] = "creator"
    creators["flagged"] = creators["risk"] >= policy.creator_flag_invalid_share
    creators["reasons"] = (
        _top_reasons(engagements.loc[is_buying, ["creator_id", "reason"]], key="creator_id")
        .reindex(creators.index)
        .fillna("")
        .astype("str")
    )
    creators = creators.reset_index()
    return creators


def _top_reasons(bad: pd.DataFrame, *, key: str) -> pd.Series:
    """Per ``key`` value: its rows' reason codes, most frequent first, joined by ';'."""
    if bad.empty:
        return pd.Series(dtype="str")
    keys, key_labels = pd.factorize(bad[key])
    reasons, reason_labels = pd.factorize(bad["reason"])
    width = len(reason_labels)
    pairs, n = distinct_counts(keys.astype(np.int64) * width + reasons)
    counts = pd.DataFrame(
        {"k": pairs // width, "n": n, "reason": np.asarray(reason_labels, dtype=object)[pairs % width]}
    )
    # most keys have one reason; only the others need sorting and joining
    is_several = np.bincount(counts["k"].to_numpy())[counts["k"].to_numpy()] > 1
    several = counts[is_several].sort_values(["k", "n", "reason"], ascending=[True, False, True])
    joined = pd.concat(
        [
            counts.loc[~is_several].set_index("k")["reason"],
            _joined(several["k"].to_numpy(), several["reason"].to_numpy(dtype=object)),
        ]
    ).sort_index()
    return pd.Series(joined.to_numpy(), index=pd.Index(np.asarray(key_labels, dtype=object)[joined.index]))


def _joined(keys: npt.NDArray[np.int64], reasons: npt.NDArray[np.object_]) -> pd.Series:
    """Per key (``keys`` sorted): its ``reasons`` in their order joined by ';', as a groupby of the keys
    joining them would give, by one vectorised concatenation per position within a key."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(keys)])
    position = np.arange(len(keys)) - np.repeat(starts, sizes)
    out = reasons[starts].copy()
    for j in range(1, int(sizes.max(initial=1))):
        at = np.flatnonzero(position == j)
        owner = np.repeat(np.arange(len(starts)), sizes)[at]
        out[owner] = out[owner] + ";" + reasons[at]
    return pd.Series(out, index=pd.Index(keys[starts], name="k"), name="reason")
