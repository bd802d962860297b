"""The creator graph of a window: creators' accounts, creator->creator engagement, shared engagers.

Creators are platform accounts too: a ``creator_id`` that shows up as a ``user_id``
is the creator's own account engaging a post.  A creator's *associated* accounts
are the accounts that share a device or an IP with its own account, but only on
keys few accounts use: a carrier-NAT IP or a device farm links hundreds of
strangers and proves nothing.  Each associated account belongs to one creator.

Everything here is pure: engagements in, small frames (one row per creator,
account or creator pair) out.  The work is linear in the engagements apart from
:func:`features.shared_engagers.shared_engager_edges`, which is bounded by the
accounts' degrees, and :func:`triangle_communities`, which is linear in the wedges of
the small creator graph.  Functions that take ``index=`` accept the :func:`graph_index` of the same
frame, so a caller that needs several features codes the frame once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from features.arrays import distinct

if TYPE_CHECKING:
    import networkx as nx

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]

NO_OWNER = -1
LINKS: tuple[str, ...] = ("self", "device", "ip")  # ranked: a device is stronger evidence than an IP


@dataclass(frozen=True)
class GraphIndex:
    """Integer codes of a window's usable engagements (rows with user, creator and post).

    Creator codes follow sorted creator ids, so nothing downstream depends on row
    order.  Accounts are the engaging users plus every creator's own account.
    """

    rows: IntArray  # position in the input frame of each usable row
    account: IntArray  # per usable row
    creator: IntArray  # per usable row: the post's creator
    post: IntArray  # per usable row
    platform: IntArray  # per usable row
    account_ids: ObjArray
    creator_ids: ObjArray
    platform_ids: ObjArray
    creator_account: IntArray  # per creator: its own account
    creator_platform: IntArray  # per creator: the platform of most of its engagements

    @property
    def n_accounts(self) -> int:
        """Number of accounts (engagers and creators' own accounts)."""
        return len(self.account_ids)

    @property
    def n_creators(self) -> int:
        """Number of creators with at least one usable engagement."""
        return len(self.creator_ids)


def graph_index(engagements: pd.DataFrame) -> GraphIndex:
    """The integer codes the graph features share; compute once and pass as ``index=``."""
    usable = (
        engagements["user_id"].notna() & engagements["creator_id"].notna() & engagements["post_id"].notna()
    ).to_numpy(dtype=bool)
    rows = np.flatnonzero(usable).astype(np.int64)
    frame = engagements.iloc[rows] if len(rows) < len(engagements) else engagements
    account, user_ids = pd.factorize(frame["user_id"])
    creator, creator_ids = pd.factorize(frame["creator_id"], sort=True)
    post, _ = pd.factorize(frame["post_id"])
    platform_col = frame["platform"] if "platform" in frame else pd.Series("", index=frame.index)
    platform, platform_ids = pd.factorize(platform_col.fillna(""), sort=True)
    # look users up among the few creators, not the reverse: hashing every user is slow
    creator_of_user = pd.Index(creator_ids).get_indexer(user_ids)
    own = np.full(len(creator_ids), -1, dtype=np.int64)
    found = np.flatnonzero(creator_of_user >= 0)
    own[creator_of_user[found]] = found
    missing = own < 0
    own[missing] = len(user_ids) + np.arange(int(missing.sum()))
    account_ids = np.concatenate(
        [np.asarray(user_ids, dtype=object), np.asarray(creator_ids, dtype=object)[missing]]
    )
    n_platforms = max(len(platform_ids), 1)
    per_platform = np.bincount(creator * n_platforms + platform, minlength=len(creator_ids) * n_platforms)
    return GraphIndex(
        rows=rows,
        account=account.astype(np.int64),
        creator=creator.astype(np.int64),
        post=post.astype(np.int64),
        platform=platform.astype(np.int64),
        account_ids=account_ids,
        creator_ids=np.asarray(creator_ids, dtype=object),
        platform_ids=np.asarray(platform_ids, dtype=object),
        creator_account=own,
        creator_platform=per_platform.reshape(len(creator_ids), n_platforms).argmax(axis=1).astype(np.int64),
    )


# --------------------------------------------------------------------------- accounts


def account_owner(
    engagements: pd.DataFrame,
    *,
    index: GraphIndex | None = None,
    max_device_accounts: int,
    max_ip_accounts: int,
) -> tuple[IntArray, IntArray]:
    """Per account: the creator code that owns it (``NO_OWNER`` if none) and the link (index in LINKS).

    A creator owns its own account.  Another account is associated with the
    creator whose own account shares a device (or failing that an IP) with it,
    counting only keys used by at most ``max_device_accounts`` / ``max_ip_accounts``
    accounts; creators' own accounts are never associated with another creator.
    Ties go to more shared keys, then the smaller creator id.
    """
    index = graph_index(engagements) if index is None else index
    owner = np.full(index.n_accounts, NO_OWNER, dtype=np.int64)
    link = np.full(index.n_accounts, -1, dtype=np.int64)
    owner[index.creator_account] = np.arange(index.n_creators)
    link[index.creator_account] = 0
    is_creator_account = owner >= 0
    parts = [
        _key_links(engagements, index, column, max_accounts, is_creator_account, rank)
        for rank, (column, max_accounts) in enumerate(
            (("device_id", max_device_accounts), ("ip", max_ip_accounts)), 1
        )
    ]
    links = pd.concat(parts, ignore_index=True)
    if links.empty:
        return owner, link
    links = links.sort_values(["account", "rank", "n_keys", "creator"], ascending=[True, True, False, True])
    best = links.drop_duplicates("account")
    owner[best["account"].to_numpy()] = best["creator"].to_numpy()
    link[best["account"].to_numpy()] = best["rank"].to_numpy()
    return owner, link


def _key_links(
    engagements: pd.DataFrame,
    index: GraphIndex,
    column: str,
    max_accounts: int,
    is_creator_account: npt.NDArray[np.bool_],
    rank: int,
) -> pd.DataFrame:
    """(creator, account, n_keys, rank) for accounts sharing a rare key of ``column`` with a creator."""
    empty = pd.DataFrame({"creator": [], "account": [], "n_keys": [], "rank": []}, dtype=np.int64)
    if column not in engagements or len(index.rows) == 0:
        return empty
    keys = engagements[column].iloc[index.rows]
    creator_rows = is_creator_account[index.account]
    near = _sharing_a_key(keys, creator_rows)
    if not near.any():
        return empty
    key, _ = pd.factorize(keys[near])
    pairs = pd.DataFrame({"key": key, "account": index.account[near]}).drop_duplicates()
    size = pairs.groupby("key")["account"].transform("size")
    pairs = pairs[(size >= 2) & (size <= max_accounts)]
    is_creator = is_creator_account[pairs["account"].to_numpy()]
    owners = pairs[is_creator].rename(columns={"account": "creator_account"})
    linked = owners.merge(pairs[~is_creator], on="key")
    if linked.empty:
        return empty
    creator_of = pd.Series(np.arange(index.n_creators), index=index.creator_account)
    linked["creator"] = creator_of.reindex(linked["creator_account"].to_numpy()).to_numpy()
    out = linked.groupby(["creator", "account"], sort=True).size().rename("n_keys").reset_index()
    out["rank"] = rank
    return out.astype(np.int64)


def _sharing_a_key(keys: pd.Series, of_rows: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per row: its key (not missing) is the key of one of the rows ``of_rows``; a categorical's by its
    codes (``isin`` would hash the categories)."""
    if not isinstance(keys.dtype, pd.CategoricalDtype):
        return np.asarray(keys.isin(keys[of_rows].dropna().unique()).to_numpy(dtype=bool), dtype=bool)
    key_codes = keys.cat.codes.to_numpy()
    is_wanted = np.zeros(len(keys.cat.categories) + 1, dtype=bool)  # the last: a missing key, never
    is_wanted[key_codes[of_rows & (key_codes >= 0)]] = True
    return is_wanted[key_codes]


def creator_accounts(
    engagements: pd.DataFrame,
    *,
    index: GraphIndex | None = None,
    max_device_accounts: int,
    max_ip_accounts: int,
) -> pd.DataFrame:
    """One row per (creator, account it owns): creator_id, account_id, link (self/device/ip).

    Every creator has its ``self`` row, even when its own account never engages.
    See :func:`account_owner` for how other accounts are associated.
    """
    index = graph_index(engagements) if index is None else index
    owner, link = account_owner(
        engagements, index=index, max_device_accounts=max_device_accounts, max_ip_accounts=max_ip_accounts
    )
    owned = np.flatnonzero(owner >= 0)
    frame = pd.DataFrame(
        {
            "creator_id": pd.array(index.creator_ids[owner[owned]], dtype="string"),
            "account_id": pd.array(index.account_ids[owned], dtype="string"),
            "link": pd.array(np.asarray(LINKS, dtype=object)[link[owned]], dtype="string"),
            "_rank": link[owned],
        }
    )
    return (
        frame.sort_values(["creator_id", "_rank", "account_id"]).drop(columns="_rank").reset_index(drop=True)
    )


# --------------------------------------------------------------------------- creator -> creator


def creator_engagement_edges(
    engagements: pd.DataFrame,
    *,
    owner: IntArray,
    index: GraphIndex | None = None,
) -> pd.DataFrame:
    """Directed creator->creator engagement: the source's accounts engaged the target's posts.

    Columns: source, target, n_events, n_posts (target posts engaged), n_accounts
    (source accounts that engaged), target_posts (target posts in the window),
    coverage (n_posts / target_posts) and expected_events: what chance predicts
    from degrees, ``out(source) * in(target) / events on the target's platform``.
    ``owner`` is the first array of :func:`account_owner` on the same frame.
    """
    index = graph_index(engagements) if index is None else index
    codes = creator_edge_codes(index, owner)
    ids = index.creator_ids
    out = pd.DataFrame(
        {
            "source": pd.array(ids[codes["source"].to_numpy()], dtype="string"),
            "target": pd.array(ids[codes["target"].to_numpy()], dtype="string"),
        }
    )
    for column in ("n_events", "n_posts", "n_accounts", "target_posts", "coverage", "expected_events"):
        out[column] = codes[column].to_numpy()
    return out


def creator_edge_codes(index: GraphIndex, owner: IntArray) -> pd.DataFrame:
    """:func:`creator_engagement_edges` on creator codes (int source/target), sorted by them."""
    row_owner = owner[index.account]
    cross = (row_owner >= 0) & (row_owner != index.creator)
    frame = pd.DataFrame(
        {
            "source": row_owner[cross],
            "target": index.creator[cross],
            "post": index.post[cross],
            "account": index.account[cross],
        }
    )
    grouped = frame.groupby(["source", "target"], sort=True)
    edges = pd.DataFrame(
        {
            "n_events": grouped.size(),
            "n_posts": grouped["post"].nunique(),
            "n_accounts": grouped["account"].nunique(),
        }
    ).reset_index()
    posts = creator_post_counts(index)
    out_events = np.bincount(row_owner[row_owner >= 0], minlength=index.n_creators).astype(np.float64)
    in_events = np.bincount(index.creator, minlength=index.n_creators).astype(np.float64)
    platform_events = np.bincount(index.platform, minlength=len(index.platform_ids)).astype(np.float64)
    source, target = edges["source"].to_numpy(), edges["target"].to_numpy()
    edges["target_posts"] = posts[target]
    edges["coverage"] = edges["n_posts"].to_numpy() / np.maximum(posts[target], 1)
    edges["expected_events"] = (
        out_events[source]
        * in_events[target]
        / np.maximum(platform_events[index.creator_platform[target]], 1.0)
    )
    return edges.astype(
        {
            "source": np.int64,
            "target": np.int64,
            "n_events": np.int64,
            "n_posts": np.int64,
            "n_accounts": np.int64,
            "target_posts": np.int64,
        }
    )


def creator_post_counts(index: GraphIndex) -> IntArray:
    """Per creator code: number of distinct posts with engagements in the window."""
    if len(index.post) == 0:
        return np.zeros(index.n_creators, dtype=np.int64)
    n_posts = int(index.post.max()) + 1
    post_creator = np.full(n_posts, -1, dtype=np.int64)
    post_creator[index.post] = index.creator
    if np.array_equal(post_creator[index.post], index.creator):
        # every post has one creator (the contract's case): count posts, no sort
        return np.bincount(post_creator[post_creator >= 0], minlength=index.n_creators).astype(np.int64)
    pairs = distinct(index.creator * n_posts + index.post)
    return np.bincount(pairs // n_posts, minlength=index.n_creators).astype(np.int64)


def reciprocal_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """Creator pairs that engaged each other, from :func:`creator_engagement_edges`.

    Columns: creator_a < creator_b, events_ab, events_ba, coverage_ab, coverage_ba,
    expected_ab, expected_ba and weight (geometric mean of the two coverages).
    """
    forward = edges[["source", "target", "n_events", "coverage", "expected_events"]]
    backward = forward.rename(columns={"source": "target", "target": "source"})
    both = forward.merge(backward, on=["source", "target"], suffixes=("_ab", "_ba"))
    both = both[both["source"] < both["target"]].sort_values(["source", "target"]).reset_index(drop=True)
    return pd.DataFrame(
        {
            "creator_a": both["source"],
            "creator_b": both["target"],
            "events_ab": both["n_events_ab"],
            "events_ba": both["n_events_ba"],
            "coverage_ab": both["coverage_ab"],
            "coverage_ba": both["coverage_ba"],
            "expected_ab": both["expected_events_ab"],
            "expected_ba": both["expected_events_ba"],
            "weight": np.sqrt(both["coverage_ab"].to_numpy() * both["coverage_ba"].to_numpy()),
        }
    )


def creator_graph(edges: pd.DataFrame) -> nx.Graph:
    """Undirected creator graph of a pair frame (creator_a, creator_b, attributes...).

    Works on :func:`reciprocal_edges` and :func:`shared_engager_edges`; every other
    column becomes an edge attribute.  Nodes and edges are added in sorted order,
    so algorithms with a seed give the same answer for the same edges.
    """
    import networkx as nx  # imported on use: most windows never build the graph

    graph = nx.Graph()
    if edges.empty:
        return graph
    ordered = edges.sort_values(["creator_a", "creator_b"])
    graph.add_nodes_from(sorted(set(ordered["creator_a"]) | set(ordered["creator_b"])))
    attributes = [c for c in ordered.columns if c not in ("creator_a", "creator_b")]
    records = ordered[attributes].to_dict("records")
    graph.add_edges_from(
        (a, b, attrs) for a, b, attrs in zip(ordered["creator_a"], ordered["creator_b"], records, strict=True)
    )
    return graph


def triangle_communities(a: IntArray, b: IntArray) -> list[IntArray]:
    """Clique percolation with k=3 on the undirected graph of integer edges (a, b), sorted node sets.

    Triangles that share an edge belong to one community; a node may sit in
    several.  Same answer as ``networkx.community.k_clique_communities(g, 3)``
    but from the triangles themselves (wedges joined against the sorted edge
    keys), so a dense component costs its number of wedges, not its cliques.
    """
    if len(a) == 0:
        return []
    n_nodes = int(max(a.max(), b.max())) + 1
    key = distinct(np.minimum(a, b).astype(np.int64) * n_nodes + np.maximum(a, b))
    low, high = key // n_nodes, key % n_nodes
    n_edges = len(key)
    later = np.searchsorted(low, low, side="right") - 1 - np.arange(n_edges)  # edges after it from its node
    first = np.repeat(np.arange(n_edges), later)
    second = first + 1 + np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)
    closing = high[first] * n_nodes + high[second]
    third = np.clip(np.searchsorted(key, closing), 0, n_edges - 1)
    is_triangle = key[third] == closing
    first, second, third = first[is_triangle], second[is_triangle], third[is_triangle]
    if len(first) == 0:
        return []
    links = sparse.coo_matrix(
        (np.ones(2 * len(first)), (np.r_[first, first], np.r_[second, third])), shape=(n_edges, n_edges)
    )
    _, label = csgraph.connected_components(links, directed=False)
    in_triangle = np.zeros(n_edges, dtype=bool)
    in_triangle[np.r_[first, second, third]] = True
    edge_label = label[in_triangle]
    nodes = np.r_[low[in_triangle], high[in_triangle]]
    pairs = distinct(np.r_[edge_label, edge_label].astype(np.int64) * n_nodes + nodes)
    groups = pairs // n_nodes
    cuts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return [np.asarray(part % n_nodes, dtype=np.int64) for part in np.split(pairs, cuts[1:])]
