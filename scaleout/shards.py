"""Shard plans: which shard scores each creator's posts, never splitting an account's platform.

Accounts never cross platforms, so a shard holds whole platforms (packed
together while they fit the shard budget, ``pack_platforms``). A platform whose
window holds more events than the budget is split along its engagement
graph, never by rows: first into connected components of the graph of creators
and the users who engaged with them (nothing links two components, so scoring
them apart loses no edge), then a component still over budget into communities
of creators that share engagers (Louvain on the creator graph weighted by shared
engagers). A creator's posts always stay together: creator-level tests and the
money policy see a creator whole. Small parts are packed together into shards of
at most the budget; a single community over budget stays whole (an oversized
shard, reported), because a random cut would separate the very users a group
test looks for.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

# the planner's input: one row per distinct (platform, creator, user) with its event count
EDGE_COLUMNS = ("platform", "creator_id", "user_id", "events")
PLAN_COLUMNS = ("platform", "creator_id", "shard", "events")
NO_PLATFORM = "_none"  # the shard of rows without a platform (validation rejects them)


def one_shard_per_platform(events: pd.Series) -> pd.DataFrame:
    """A plan (``PLAN_COLUMNS``) of one whole-platform shard per platform (``events`` indexed by platform).

    Not what the planner makes of a window within the budget (it packs platforms together):
    a forced split, for measuring what splitting a window costs.
    """
    names = [str(p) for p in events.index]
    return pd.DataFrame(
        {"platform": names, "creator_id": "", "shard": names, "events": events.to_numpy(dtype=np.int64)}
    )[list(PLAN_COLUMNS)]


def split_platforms(plan: pd.DataFrame) -> frozenset[str]:
    """The platforms a plan (``PLAN_COLUMNS``) splits along their graph: planned per creator, where
    creator "" stands for a whole platform. Its shards learn it from the plan, not from what spans
    them (a platform split between worlds shares no account nor address across its shards)."""
    return frozenset(plan.loc[plan["creator_id"] != "", "platform"].astype("str"))


def plan_platform(edges: pd.DataFrame, *, budget: int) -> pd.DataFrame:
    """The shard of each creator of one platform's ``edges`` (``EDGE_COLUMNS``), and its events."""
    platform = str(edges["platform"].iloc[0]) if len(edges) else NO_PLATFORM
    creator_codes, creators = pd.factorize(edges["creator_id"].astype("str"), sort=True)
    user_codes, users = pd.factorize(edges["user_id"].astype("str"), sort=True)
    events = edges["events"].to_numpy(dtype=np.int64)
    creator_events = np.bincount(creator_codes, weights=events, minlength=len(creators)).astype(np.int64)
    if creator_events.sum() <= budget:
        shard_of = np.zeros(len(creators), dtype=np.int64)
        names = [platform]
    else:
        units = _units(creator_codes, user_codes, creator_events, n_users=len(users), budget=budget)
        unit_codes, unit_index = np.unique(units, return_inverse=True)
        unit_events = np.bincount(unit_index, weights=creator_events, minlength=len(unit_codes))
        shard_of = first_fit(unit_events.astype(np.int64), budget=budget)[unit_index]
        names = [f"{platform}.{k:03d}" for k in range(int(shard_of.max()) + 1)]
    return pd.DataFrame(
        {
            "platform": platform,
            "creator_id": pd.Series(creators, dtype="str"),
            "shard": pd.Series(np.asarray(names, dtype=object)[shard_of], dtype="str"),
            "events": creator_events,
        }
    )


def _units(
    creator_codes: npt.NDArray[np.intp],
    user_codes: npt.NDArray[np.intp],
    creator_events: npt.NDArray[np.int64],
    *,
    n_users: int,
    budget: int,
) -> npt.NDArray[np.int64]:
    """Per creator, the unit it moves with: its component, or its community within a large component."""
    n_creators = len(creator_events)
    engaged = sparse.csr_matrix(
        (np.ones(len(creator_codes)), (creator_codes, user_codes)), shape=(n_creators, n_users)
    )
    bipartite = sparse.bmat([[None, engaged], [engaged.T, None]], format="csr")
    _, labels = connected_components(bipartite, directed=False)
    component = labels[:n_creators]
    unit = component.astype(np.int64)
    next_unit = int(unit.max(initial=-1)) + 1
    component_events = np.bincount(component, weights=creator_events)
    for large in np.flatnonzero(component_events > budget):
        members = np.flatnonzero(component == large)
        for community in _communities(engaged[members], members):
            unit[community] = next_unit
            next_unit += 1
    return unit


def _communities(engaged: sparse.csr_matrix, members: npt.NDArray[np.intp]) -> list[npt.NDArray[np.intp]]:
    """Communities of the creators ``members`` (rows of ``engaged``) weighted by shared engagers."""
    binary = (engaged > 0).astype(np.float64)
    shared = sparse.triu(binary @ binary.T, k=1).tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(range(len(members)))
    graph.add_weighted_edges_from(
        zip(shared.row.tolist(), shared.col.tolist(), shared.data.tolist(), strict=True)
    )
    found = nx.community.louvain_communities(graph, weight="weight", seed=0)
    return [members[np.array(sorted(c), dtype=np.intp)] for c in sorted(found, key=min)]


def first_fit(sizes: npt.NDArray[np.int64], *, budget: int) -> npt.NDArray[np.int64]:
    """Per item, its bin: items packed first-fit by decreasing size into bins of at most ``budget``.

    An item larger than the budget gets a bin of its own.
    """
    loads: list[int] = []
    bin_of = np.zeros(len(sizes), dtype=np.int64)
    for item in np.argsort(-np.asarray(sizes), kind="stable"):
        size = int(sizes[item])
        fits = next((k for k, load in enumerate(loads) if load + size <= budget), None)
        if fits is None:
            loads.append(0)
            fits = len(loads) - 1
        loads[fits] += size
        bin_of[item] = fits
    return bin_of


def pack_platforms(events: pd.Series, *, budget: int) -> dict[str, str]:
    """The shard of each platform of at most ``budget`` events (``events`` indexed by platform).

    Whole platforms are packed together while they fit: a window within the budget is
    one shard and scored exactly as on one machine. Shards of whole platforms are scored
    against the window's chance statistics (``detectors.chance``) and decide as one
    process would; a platform split along its graph does not (docs/spark.md), so fewer,
    larger shards keep their verdicts closest to the single-process path.
    """
    names = sorted(str(p) for p in events.index)
    sizes = np.array([int(events[p]) for p in names], dtype=np.int64)
    bins = first_fit(sizes, budget=budget)
    members: dict[int, list[str]] = {}
    for name, k in zip(names, bins.tolist(), strict=True):
        members.setdefault(k, []).append(name)
    return {name: "+".join(members[k]) for name, k in zip(names, bins.tolist(), strict=True)}
