"""Creator and seller-group cases: who they are about and the money each decision moves.

A *creator case* is a creator's posts in one settlement that the settlement withheld or held
money on: claimed, paid, withheld and held per post, and the post the creator would dispute
first (the most money kept). Clearing it pays what is still kept: the held money (``release``)
and the withheld money (``release_withheld``, capped by what the settlement withheld on the post).

A *group case* is one detected seller group of a settlement's run: the invalid engagements
that one structural detector (pool, dense block, ring, lockstep, device or IP farm) explains
with one evidence sentence, split into connected account-post components. Confirming it
labels every member fraud (members excepted are labelled clean and their money released);
clearing it labels every member clean and releases the group's engagements' money, post by post.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from serving.review.account_cases import SettlementVerdicts
from serving.statuses import AdjustmentKind

CREATOR_PREFIX = "creator:"
GROUP_PREFIX = "group:"
# the structural reason codes whose evidence describes one group of accounts
GROUP_REASONS = ("pool", "dense_block", "ring", "lockstep", "device_farm", "ip_farm")
LINE_MONEY = ("claimed_amount", "payable", "held_amount", "withheld_amount")


def creator_case_post_id(creator_id: str) -> str:
    """The ``post_id`` a creator case is stored under."""
    return f"{CREATOR_PREFIX}{creator_id}"


def group_case_post_id(group_key: str) -> str:
    """The ``post_id`` a group case is stored under."""
    return f"{GROUP_PREFIX}{group_key}"


def settlement_lines(body: str) -> pd.DataFrame:
    """A settlement's post lines from its stored answer (post_id, creator_id, decision, claimed, valid,
    claimed_amount, payable, held_amount, withheld_amount as floats, reasons ';'-joined)."""
    posts = json.loads(body).get("posts", []) if body else []
    columns = ["post_id", "creator_id", "decision", "claimed", "valid", *LINE_MONEY, "reasons"]
    if not posts:
        return pd.DataFrame({c: [] for c in columns})
    frame = pd.DataFrame(posts)
    for column in LINE_MONEY:
        frame[column] = frame[column].astype("float64")
    frame["reasons"] = frame["reasons"].map(lambda r: ";".join(r))
    frame["post_id"] = frame["post_id"].astype("str")
    frame["creator_id"] = frame["creator_id"].astype("str")
    return frame[columns]


def creator_stakes(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per creator with money kept: creator_id, n_posts, claimed, paid, withheld, held,
    at_stake (withheld + held), dispute_first (the post with most money kept), reasons."""
    kept = lines.assign(kept=lines["withheld_amount"] + lines["held_amount"])
    kept = kept.loc[kept["kept"].round(2) > 0]
    if kept.empty:
        names = ["creator_id", "n_posts", "claimed", "paid", "withheld", "held", "at_stake"]
        return pd.DataFrame({c: [] for c in [*names, "dispute_first", "reasons"]})
    first = kept.sort_values(["kept", "post_id"], ascending=[False, True]).drop_duplicates("creator_id")
    out = kept.groupby("creator_id", sort=True).agg(
        n_posts=("post_id", "size"),
        claimed=("claimed_amount", "sum"),
        paid=("payable", "sum"),
        withheld=("withheld_amount", "sum"),
        held=("held_amount", "sum"),
        at_stake=("kept", "sum"),
        reasons=("reasons", lambda r: ";".join(sorted({x for s in r for x in s.split(";") if x}))),
    )
    out["dispute_first"] = first.set_index("creator_id")["post_id"]
    return out.reset_index()


def creator_posts(lines: pd.DataFrame, creator_id: str) -> pd.DataFrame:
    """A creator's lines of a settlement, most money kept first."""
    mine = lines.loc[lines["creator_id"] == creator_id]
    kept = mine["withheld_amount"] + mine["held_amount"]
    return mine.assign(kept=kept).sort_values(["kept", "post_id"], ascending=[False, True], ignore_index=True)


@dataclass(frozen=True)
class SellerGroup:
    """One detected group of a settlement: its reason, evidence, members, posts and engagements' money."""

    key: str
    reason: str
    evidence: str
    members: tuple[str, ...]
    posts: tuple[str, ...]
    engagements: int
    money: float  # what the settlement withheld or held for the group's engagements
    main_post: str


def seller_groups(verdicts: SettlementVerdicts, *, min_members: int = 2) -> list[SellerGroup]:
    """The settlement's seller groups, most money first (groups of fewer than ``min_members`` dropped)."""
    frame = _group_engagements(verdicts)
    if frame.empty:
        return []
    groups = []
    for (reason, evidence), part in frame.groupby(["reason", "evidence"], sort=True):
        for members in _components(part):
            mine = part.loc[part["user_id"].isin(members)]
            if len(members) < min_members:
                continue
            by_post = mine.groupby("post_id")["money"].agg(["size", "sum"]).sort_index()
            key = hashlib.sha256(f"{reason}\x1f{evidence}\x1f{sorted(members)}".encode()).hexdigest()[:16]
            groups.append(
                SellerGroup(
                    key=key,
                    reason=str(reason),
                    evidence=str(evidence),
                    members=tuple(sorted(members)),
                    posts=tuple(by_post.index.astype("str")),
                    engagements=len(mine),
                    money=float(np.round(mine["money"].sum(), 6)),
                    main_post=str(by_post["size"].sort_values(ascending=False, kind="stable").index[0]),
                )
            )
    return sorted(groups, key=lambda g: (-g.money, g.key))


def group_by_key(verdicts: SettlementVerdicts, key: str) -> SellerGroup | None:
    """One seller group of a settlement by its key (None when the run no longer shows it)."""
    return next((g for g in seller_groups(verdicts) if g.key == key), None)


def group_money(verdicts: SettlementVerdicts, group: SellerGroup, members: set[str]) -> pd.DataFrame:
    """Money of ``members``' group engagements per post: post_id, kind (release on a held post,
    release_withheld otherwise), amount."""
    frame = _group_engagements(verdicts)
    mine = frame.loc[
        (frame["reason"] == group.reason)
        & (frame["evidence"] == group.evidence)
        & frame["user_id"].isin(sorted(members))
        & frame["post_id"].isin(list(group.posts))
    ]
    per_post = mine.groupby("post_id", sort=True)["money"].sum().reset_index()
    per_post["kind"] = np.where(
        per_post["post_id"].isin(sorted(verdicts.held_posts)),
        AdjustmentKind.RELEASE.value,
        AdjustmentKind.RELEASE_WITHHELD.value,
    )
    return per_post.rename(columns={"money": "amount"})[["post_id", "kind", "amount"]]


def member_money(verdicts: SettlementVerdicts, group: SellerGroup) -> pd.DataFrame:
    """Per member of a group: its group engagements and their money (account_id, engagements, money)."""
    frame = _group_engagements(verdicts)
    mine = frame.loc[(frame["reason"] == group.reason) & (frame["evidence"] == group.evidence)]
    mine = mine.loc[mine["user_id"].isin(list(group.members))]
    out = mine.groupby("user_id", sort=True)["money"].agg(["size", "sum"]).reset_index()
    return out.rename(columns={"user_id": "account_id", "size": "engagements", "sum": "money"})


def _group_engagements(verdicts: SettlementVerdicts) -> pd.DataFrame:
    """The settlement's invalid engagements a group detector explains, priced (user_id, post_id,
    reason, evidence, money)."""
    frame = verdicts.engagements
    reason = frame["reason"].astype("str")
    keep = frame["invalid"].astype(bool).to_numpy() & reason.isin(GROUP_REASONS).to_numpy()
    money = verdicts.price * frame["copies"].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("str").to_numpy()[keep],
            "post_id": frame["post_id"].astype("str").to_numpy()[keep],
            "reason": reason.to_numpy()[keep],
            "evidence": frame["evidence"].astype("str").to_numpy()[keep],
            "money": money[keep],
        }
    )


def _components(part: pd.DataFrame) -> list[set[str]]:
    """The account sets of the connected components of an account-post graph."""
    graph = nx.Graph()
    pairs = part[["user_id", "post_id"]].drop_duplicates()
    graph.add_edges_from(zip("u:" + pairs["user_id"], "p:" + pairs["post_id"], strict=True))
    out = []
    for component in nx.connected_components(graph):
        out.append({str(n)[2:] for n in component if str(n).startswith("u:")})
    return out
