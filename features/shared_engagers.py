"""Shared engagers: creator pairs of one platform whose audiences overlap beyond a configuration model.

Pure functions on the :func:`features.graph.graph_index` of a window; the work is
bounded by the accounts' degrees (``max_creators_per_account``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features.arrays import distinct, group_sizes, sorted_inverse, stable_order
from features.graph import FloatArray, GraphIndex, IntArray, graph_index


def account_creator_pairs(index: GraphIndex) -> pd.DataFrame:
    """Distinct (account, creator) codes with n_posts engaged and the account's degree on the platform.

    ``degree`` counts the distinct creators of the creator's platform the account
    engaged.  Sorted by account, then creator.
    """
    if len(index.account) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=np.int64) for c in ("account", "creator", "n_posts", "degree")}
        )
    n_posts = int(index.post.max()) + 1
    post_creator = np.zeros(n_posts, dtype=np.int64)
    post_creator[index.post] = index.creator
    # posts numbered in their creators' order: an account's distinct posts then come by creator, and
    # its (account, creator) pairs in order, counted by their runs without a second sort
    by_creator = stable_order(post_creator)
    rank = np.empty(n_posts, dtype=np.int64)
    rank[by_creator] = np.arange(n_posts)
    engaged = distinct(index.account * n_posts + rank[index.post])
    key, run = sorted_inverse(
        (engaged // n_posts) * index.n_creators + post_creator[by_creator][engaged % n_posts]
    )
    n_engaged = np.bincount(run, minlength=len(key)).astype(np.int64)
    account, creator = key // index.n_creators, key % index.n_creators
    account_platform = account * max(len(index.platform_ids), 1) + index.creator_platform[creator]
    return pd.DataFrame(
        {
            "account": account,
            "creator": creator,
            "n_posts": n_engaged,
            "degree": group_sizes(account_platform),
        }
    )


def shared_engager_edges(
    engagements: pd.DataFrame,
    *,
    index: GraphIndex | None = None,
    min_shared: int,
    max_creators_per_account: int,
) -> pd.DataFrame:
    """Creator pairs of one platform with at least ``min_shared`` engagers in common.

    Columns: creator_a < creator_b, platform, n_shared (accounts engaging both),
    shared_posts (sum over them of the smaller number of posts engaged),
    weighted_jaccard (shared_posts over the union's posts engaged), expected_shared
    (configuration-model chance overlap ``k_a * k_b * sum d(d-1) / (sum d)^2`` from
    the engagers' and accounts' degrees) and lift (n_shared / expected_shared).

    Accounts engaging more than ``max_creators_per_account`` creators of the
    platform are left out of the intersections (they are the heavy users whose
    overlap says least, and the ones that would make the work quadratic); they
    still count in each creator's union.  Cost: one sparse product per level of
    posts engaged, on accounts of bounded degree.
    """
    index = graph_index(engagements) if index is None else index
    pairs = account_creator_pairs(index)
    codes = shared_engager_codes(
        index, pairs=pairs, min_shared=min_shared, max_creators_per_account=max_creators_per_account
    )
    a, b = codes["a"].to_numpy(), codes["b"].to_numpy()
    order = np.lexsort((index.creator_ids[b], index.creator_ids[a]))
    codes = codes.iloc[order].reset_index(drop=True)
    a, b = a[order], b[order]
    total_posts = np.bincount(pairs["creator"], weights=pairs["n_posts"], minlength=index.n_creators)
    weight = codes["shared_posts"].to_numpy().astype(np.float64)
    expected = codes["expected_shared"].to_numpy()
    return pd.DataFrame(
        {
            "creator_a": pd.array(index.creator_ids[a], dtype="string"),
            "creator_b": pd.array(index.creator_ids[b], dtype="string"),
            "platform": pd.array(index.platform_ids[index.creator_platform[a]], dtype="string"),
            "n_shared": codes["n_shared"].to_numpy(),
            "shared_posts": codes["shared_posts"].to_numpy(),
            "weighted_jaccard": weight / np.maximum(total_posts[a] + total_posts[b] - weight, 1.0),
            "expected_shared": expected,
            "lift": codes["n_shared"].to_numpy() / np.maximum(expected, 1e-12),
        }
    )


def shared_engager_codes(
    index: GraphIndex,
    *,
    pairs: pd.DataFrame | None = None,
    min_shared: int,
    max_creators_per_account: int,
) -> pd.DataFrame:
    """:func:`shared_engager_edges` on creator codes: a < b, n_shared, shared_posts, expected_shared.

    ``pairs`` is :func:`account_creator_pairs` of the index (computed when absent).
    Rows are sorted by (a, b).
    """
    pairs = account_creator_pairs(index) if pairs is None else pairs
    kept = pairs[pairs["degree"] <= max_creators_per_account]
    engagers = np.bincount(kept["creator"], minlength=index.n_creators).astype(np.float64)
    overlap = kept[kept["degree"] >= 2]
    rows, _ = pd.factorize(overlap["account"])
    a, b, count, weight = _cooccurrence(
        rows, overlap["creator"].to_numpy(), overlap["n_posts"].to_numpy(), index.n_creators
    )
    keep = (a < b) & (count >= min_shared) & (index.creator_platform[a] == index.creator_platform[b])
    a, b, count, weight = a[keep], b[keep], count[keep], weight[keep]
    degree_sum, degree_pairs = _platform_degree_moments(kept, index)
    platform = index.creator_platform[a]
    expected = engagers[a] * engagers[b] * degree_pairs[platform] / np.maximum(degree_sum[platform], 1.0) ** 2
    return pd.DataFrame(
        {"a": a, "b": b, "n_shared": count, "shared_posts": weight, "expected_shared": expected}
    )


def _cooccurrence(
    rows: IntArray, creators: IntArray, n_posts: IntArray, n_creators: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per creator pair (a, b): shared engagers and the sum of min(posts engaged), sorted by (a, b).

    ``min(x, y) = sum_t [x >= t][y >= t]``: one sparse product per level t, and the
    levels above 1 hold only the accounts that engaged several posts of a creator.
    """
    n_rows = int(rows.max()) + 1 if len(rows) else 0
    total: sparse.csr_matrix | None = None
    counts: sparse.coo_matrix | None = None
    for t in range(1, int(n_posts.max(initial=1)) + 1):
        above = n_posts >= t
        level = sparse.csr_matrix(
            (np.ones(int(above.sum())), (rows[above], creators[above])), shape=(n_rows, n_creators)
        )
        product = (level.T @ level).tocsr()
        counts = product.tocoo() if counts is None else counts
        total = product if total is None else total + product
    if counts is None or total is None or counts.nnz == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    key = counts.row.astype(np.int64) * n_creators + counts.col
    order = stable_order(key)
    weight_coo = total.tocoo()
    weight_key = weight_coo.row.astype(np.int64) * n_creators + weight_coo.col
    weight_order = stable_order(weight_key)
    found = np.searchsorted(weight_key[weight_order], key[order])
    return (
        counts.row[order].astype(np.int64),
        counts.col[order].astype(np.int64),
        np.rint(counts.data[order]).astype(np.int64),
        np.rint(weight_coo.data[weight_order][found]).astype(np.int64),
    )


def _platform_degree_moments(kept: pd.DataFrame, index: GraphIndex) -> tuple[FloatArray, FloatArray]:
    """Per platform: sum of account degrees and sum of d(d-1) over accounts (each account once)."""
    n_platforms = max(len(index.platform_ids), 1)
    platform = index.creator_platform[kept["creator"].to_numpy()]
    degree = kept["degree"].to_numpy().astype(np.float64)
    # an account of degree d has d rows: summing 1 gives sum d, summing d - 1 gives sum d(d - 1)
    degree_sum = np.bincount(platform, weights=np.ones(len(degree)), minlength=n_platforms)
    degree_pairs = np.bincount(platform, weights=degree - 1.0, minlength=n_platforms)
    return degree_sum.astype(np.float64), degree_pairs.astype(np.float64)
