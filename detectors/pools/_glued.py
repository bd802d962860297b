"""Glued pools: a pool's parts in different audience communities that share no more accounts than chance."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from detectors.pools._params import PoolParams


def _split_glued(
    matrix: sparse.csr_matrix,
    post_pool: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    block: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    *,
    params: PoolParams,
) -> tuple[int, npt.NDArray[np.int64]]:
    """``post_pool`` (per post its pool, -1: none) with each pool cut into the parts, by audience
    community (``community`` per post), that its accounts do not tie: the number of pools and per post
    its pool, numbered by their first post.

    A seller's accounts take its clients' orders wherever the clients' audiences are: the parts of a
    seller's pool in two communities share its accounts far beyond what the communities' light accounts
    share by chance. Louvain may also join a seller's posts with a neighbouring audience's popular posts
    that one or two links tie to them (honest fans of both); counted as one pool, the neighbour's fans
    land on its popular posts as often as chance says and, in the same (pool, creators) cells as the
    seller's accounts, explain them away. Two parts are tied when the light accounts engaging both
    (``matrix``, crossing light accounts x posts: sum over accounts of their posts in one part times
    their posts in the other) reach ``split_min_lift`` times what the block model (``block``:
    ``pair_mass`` [C, D] and ``mass`` [C] of every post) predicts from the parts' light engagers; a
    pool keeps its parts that are tied, directly or through another part, together.
    """
    pooled = np.flatnonzero(post_pool >= 0)
    if len(pooled) == 0:
        return 0, post_pool
    n_communities = int(community.max()) + 1
    part_key, part_of_post = np.unique(
        post_pool[pooled] * n_communities + community[pooled], return_inverse=True
    )
    n_parts = len(part_key)
    indicator = sparse.csr_matrix(
        (np.ones(len(pooled)), (pooled, part_of_post)), shape=(matrix.shape[1], n_parts)
    )
    per_account = matrix @ indicator
    shared = (per_account.T @ per_account).tocoo()
    a, b = shared.row, shared.col
    pool_of_part, community_of_part = part_key // n_communities, part_key % n_communities
    pair = (a < b) & (pool_of_part[a] == pool_of_part[b])
    a, b, observed = a[pair], b[pair], shared.data[pair]
    pair_mass, mass = block
    degree = np.asarray(per_account.sum(axis=0)).ravel()
    ca, cb = community_of_part[a], community_of_part[b]
    share_a, share_b = degree[a] / np.maximum(mass[ca], 1.0), degree[b] / np.maximum(mass[cb], 1.0)
    expected = pair_mass[ca, cb] * share_a * share_b
    tied = observed >= params.split_min_lift * expected
    # parts of one community are one part already; tied parts of one pool are one pool
    ties = sparse.coo_matrix((np.ones(int(tied.sum())), (a[tied], b[tied])), shape=(n_parts, n_parts))
    n_pools, component = connected_components(ties, directed=False)
    first_post = np.full(n_pools, matrix.shape[1], dtype=np.int64)
    np.minimum.at(first_post, component[part_of_post], pooled)
    number = np.empty(n_pools, dtype=np.int64)
    number[np.argsort(first_post, kind="stable")] = np.arange(n_pools)
    out = np.full(len(post_pool), -1, dtype=np.int64)
    out[pooled] = number[component[part_of_post]]
    return int(n_pools), out
