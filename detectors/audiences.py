"""Audience communities of a platform's creators: the honest structure group tests measure chance within.

Real platforms are made of audiences (interest, region, language) whose users
rarely meet, and of studios whose creators share fans. A group test that takes
one well-mixed audience per platform finds any such audience far denser than
chance. The group tests (pools, dense blocks) therefore count chance within
and between the communities found here, once per platform and window
(``detectors.registry.WindowContext.audiences`` computes them once for both).

Creators are counted as units: the creators of one studio (``posts.studio_id``)
are one unit, every other creator its own. Communities are Louvain
communities of the unit graph (units tied by the light accounts they share
beyond a configuration model), kept only where they are audiences: insular (their accounts' co-engagement,
every shared account counted, stays mostly inside). A seller's book is tied
inside by its pool, but its creators' organic fans meet the rest of the
platform as chance says, so it is no audience. Modularity finds communities even in a well-mixed audience;
those are not insular and merge back into one. Louvain runs per connected part of the unit graph:
over a platform of regions that never meet, modularity's resolution limit grows with the whole graph
and merges one region's small audiences. Each unit also has a region (``_regions``): a connected
part of two audiences or more, judged as a platform of its own by the pool test's cover rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from detectors.footprints import footprint_weight
from features.arrays import codes, distinct

if TYPE_CHECKING:
    import networkx as nx

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AudienceParams:
    """Knobs of the audience-community finder shared by the pool and dense-block tests."""

    # accounts with this many to ``max_posts`` distinct posts tie creators (heavy users tie everything)
    min_posts: int = 2
    max_posts: int = 12
    # an audience community spans at least this many creator units (one unit shares no account with
    # itself, so says nothing of an audience). Not a size: a 5k window's platform may hold an audience of
    # 2 creators whose fans follow both (3 took it for a pool); insularity keeps a seller's book out
    min_community_creators: int = 2
    # a community is an audience when this share of the co-engagement chance sends out stays inside
    min_insularity: float = 0.5
    # ... for the pool test, whose cover rule judges every community without a candidate's accounts (a
    # book's community gives its pool no cover), so a seller's book may stay a community of its own.
    # Merged at 0.5, a book whose clients belong to two audiences (its clients' fans go home) joins one
    # of them, whose cover its clients' fans then take away. Louvain's parts of one well-mixed audience
    # measured 0.06-0.08 (median), 0.29-0.32 (90th percentile), audiences 0.29-0.61 (10th percentile):
    # docs/detection.md, "Orders that tie two audiences"
    pool_min_insularity: float = 0.25
    # ... and, for the pool test's search, communities found again with the accounts of one footprint (the
    # same light posts) counted as often as chance repeats it: a seller fills an order by sending many
    # accounts to the same few posts, often of clients in several audiences, while an audience's fans
    # each spread over their own choice of its creators. A pool the search finds must beat chance within
    # those communities too (docs/detection.md, "Communities found without the orders")
    pool_footprints_once: bool = True
    # each unit keeps its ties to this many strongest neighbours: Louvain on a sparse graph is cheap
    neighbours: int = 10
    # seed of the Louvain communities
    louvain_seed: int = 0
    # with history, an account's engagement ties creators only within slices of this many days
    # (``detectors.history.sliced_accounts``; 0: the whole span). Off: it keeps a seller's book
    # from passing for an audience only while the book takes fewer than min_community_creators
    # orders a week (benchmarks/history.py variant; docs/detection.md)
    history_slice_days: int = 0


@dataclass(frozen=True)
class Audiences:
    """Per post id its creator unit and per unit its audience community (numbered from 0)."""

    posts: pd.Index  # post ids
    post_unit: IntArray  # per post of ``posts``: its creator unit
    unit_community: IntArray  # per unit: its community
    unit_region: IntArray  # per unit: its region (``_regions``; 0: the largest)
    unit_part: IntArray  # per unit: its connected part (``_regions``)
    # the communities the pool test measures chance within (``pool_min_insularity``); None: these
    pool: Audiences | None = None
    # the communities the pool test's search counts chance within (``pool_footprints_once``); None: these
    orderless: Audiences | None = None

    def for_pool(self) -> Audiences:
        """The audiences the pool test measures chance within: communities kept down to
        ``pool_min_insularity`` (a finer partition than the dense-block test's, never a coarser one)."""
        return self.pool if self.pool is not None else self

    def for_search(self) -> Audiences:
        """The communities the pool test's search counts chance within: found without the orders."""
        return self.orderless if self.orderless is not None else self

    @property
    def n_communities(self) -> int:
        """How many audience communities the platform holds (1: one mixed audience)."""
        return int(self.unit_community.max(initial=0)) + 1

    def units(self, post_ids: pd.Index) -> IntArray:
        """Per post id its unit; a post the audiences never saw is a unit of its own."""
        found = self.posts.get_indexer(post_ids)
        unit = np.where(found >= 0, self.post_unit[np.maximum(found, 0)], -1)
        unknown = unit < 0
        unit[unknown] = len(self.unit_community) + np.arange(int(unknown.sum()))
        return np.asarray(unit, dtype=np.int64)

    def communities(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its community; units the audiences never saw join community 0."""
        known = units < len(self.unit_community)
        return np.where(known, self.unit_community[np.where(known, units, 0)], 0).astype(np.int64)

    def regions(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its region; units the audiences never saw join region 0."""
        known = units < len(self.unit_region)
        return np.where(known, self.unit_region[np.where(known, units, 0)], 0).astype(np.int64)

    def parts(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its connected part; units the audiences never saw join part 0."""
        known = units < len(self.unit_part)
        return np.where(known, self.unit_part[np.where(known, units, 0)], 0).astype(np.int64)

    def insularity_without(
        self,
        user: IntArray,
        unit: IntArray,
        left_out: npt.NDArray[np.bool_],
        *,
        z: float,
        part: int | None = None,
        unit_community: IntArray | None = None,
    ) -> FloatArray:
        """Per community: its insularity, ``z`` errors up, once the accounts marked ``left_out`` are gone.

        ``user`` and ``unit`` are the light (account, unit) pairs the
        communities were found from, ``left_out`` a mask over accounts. A
        community made insular by a group's own accounts (a seller's book)
        mixes with the platform as chance says without them (0): its
        creators' other fans meet the rest. An audience's co-engagement is
        spread over many light accounts and stays insular without a few of
        them; where the group took nearly all of it, too few accounts remain
        to tell, and the upper bound stays high. With ``part``, insularity
        within that connected part: chance spreads the community's accounts
        over its part, not over audiences its accounts never reach (a part of
        one community is no audience by itself: 0). ``unit_community``: per
        unit its community, instead of the audiences' (units moved home).
        """
        kept = ~left_out[user]
        if part is not None:
            kept &= self.parts(unit) == part
        community = self.communities(unit[kept]) if unit_community is None else unit_community[unit[kept]]
        return insularity(user[kept], unit[kept], community, self.n_communities, z=z)


def post_codes(engagements: pd.DataFrame) -> tuple[IntArray, pd.Index]:
    """Per row the code of its post (-1 when missing), and the post id of each code."""
    values = engagements["post_id"]
    if isinstance(values.dtype, pd.CategoricalDtype):
        # a platform's rows of a window: only the categories present, not every platform's posts
        raw = codes(values)
        present = distinct(raw[raw >= 0])
        code = np.where(raw >= 0, np.searchsorted(present, raw), -1).astype(np.int64)
        return code, pd.Index(values.cat.categories[present])
    code, uniques = pd.factorize(values)
    return np.asarray(code, dtype=np.int64), pd.Index(uniques)


def find_audiences(
    engagements: pd.DataFrame, *, studios: pd.Series | None, params: AudienceParams
) -> Audiences:
    """The audience communities of one platform's window (``studios`` maps post_id to studio_id)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    n_units = int(unit.max(initial=-1)) + 1
    community = np.zeros(n_units, dtype=np.int64)
    region = part = np.zeros(n_units, dtype=np.int64)
    users = codes(engagements["user_id"])
    ok = (users >= 0) & (posts >= 0)
    pool = None
    if n_units >= 2 * params.min_community_creators and ok.any():
        user, post = light_pairs(users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts)
        if len(user):
            community, finer = _communities(user, unit[post], n_units, params=params)
            region, part = _regions(user, unit[post], community)
            if not np.array_equal(finer, community):
                pool = Audiences(post_ids, unit, finer, _regions(user, unit[post], finer)[0], part)
            # orders tie units: without them a platform of one audience stays one
            if params.pool_footprints_once and finer.max() > 0:
                pool = _with_orderless(
                    pool or Audiences(post_ids, unit, community, region, part), user, post, params=params
                )
    return Audiences(post_ids, unit, community, region, part, pool)


def _with_orderless(pool: Audiences, user: IntArray, post: IntArray, *, params: AudienceParams) -> Audiences:
    """``pool`` with its ``orderless`` communities: found with accounts of one footprint counted as
    chance says (``detectors.footprints.footprint_weight``)."""
    unit = pool.post_unit
    weight = footprint_weight(user, post, unit)
    found = _communities(user, unit[post], len(pool.unit_community), params=params, account_weight=weight)[1]
    region = _regions(user, unit[post], found)[0]
    return replace(pool, orderless=Audiences(pool.posts, unit, found, region, pool.unit_part))


def one_audience(engagements: pd.DataFrame, *, studios: pd.Series | None) -> Audiences:
    """One mixed audience: every unit in community 0 (a window too small or a test's plain null)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    zeros = np.zeros(int(unit.max(initial=-1)) + 1, dtype=np.int64)
    return Audiences(post_ids, unit, zeros, zeros, zeros)


def light_pairs(
    users: IntArray, posts: IntArray, n_posts: int, min_posts: int, max_posts: int
) -> tuple[IntArray, IntArray]:
    """Distinct (account, post) pairs of the accounts with ``min_posts`` to ``max_posts`` posts."""
    pairs = distinct(users * n_posts + posts)
    pair_user, pair_post = pairs // n_posts, pairs % n_posts
    degree = np.bincount(pair_user)
    light = (degree[pair_user] >= min_posts) & (degree[pair_user] <= max_posts)
    return pair_user[light], pair_post[light]


def insularity(
    user: IntArray, unit: IntArray, community: IntArray, n_communities: int, *, z: float = 0.0
) -> FloatArray:
    """Per community: how insular the co-engagement of the light accounts of these pairs is.

    ``user``, ``unit`` and ``community`` describe (account, creator unit)
    pairs. Every shared account of two units counts, as in ``_communities``:
    chance shares each community's engagers out over the platform's in
    proportion to their numbers (see ``_insular``). With ``z`` > 0 the share
    kept inside is taken ``z`` binomial errors up, counted over the accounts
    that co-engage the community (an upper bound). No shared account: 0 (with
    ``z`` > 0: 1, too few accounts to tell, as ``_insular`` counts them).
    """
    n_units = int(unit.max(initial=-1)) + 1
    if n_units == 0:
        return np.ones(n_communities) if z > 0 else np.zeros(n_communities)
    pairs = distinct(user * n_units + unit)
    pair_unit = pairs % n_units
    unit_of = np.zeros(n_units, dtype=np.int64)
    unit_of[unit] = community
    rows = np.unique(pairs // n_units, return_inverse=True)[1]
    per_account = sparse.csr_matrix(
        (np.ones(len(pairs)), (rows, unit_of[pair_unit])), shape=(int(rows.max()) + 1, n_communities)
    )
    mass = np.asarray(per_account.sum(axis=0)).ravel()
    seen = np.asarray((per_account.T @ per_account).todense(), dtype=np.float64) - np.diag(mass)
    engagers = np.bincount(pair_unit, minlength=n_units).astype(np.float64)
    own = np.bincount(unit_of, weights=engagers**2, minlength=n_communities)
    chance = np.outer(mass, mass) - np.diag(own)
    shared = np.asarray(per_account.sum(axis=1)).ravel() >= 2
    accounts = np.asarray((per_account[shared] > 0).sum(axis=0)).ravel()
    return _insular(seen, chance, accounts=accounts, z=z)


def _insular(
    seen: FloatArray, chance: FloatArray, *, accounts: FloatArray | None = None, z: float = 0.0
) -> FloatArray:
    """Per community of the k x k shared accounts ``seen`` and ``chance`` predicts: its insularity.

    The share of its shared accounts inside it beyond the share chance keeps
    inside, over what chance leaves outside: near 0 for a part of a mixed
    audience, 1 for an audience that never meets the rest. With ``z`` > 0 the
    inside share is its Wilson upper bound, ``z`` errors up, over ``accounts``
    draws: where none of a few accounts stays inside, the share is not known
    to be 0 (the normal bound's width vanishes there; ``z**2 / (n + z**2)``
    is what n accounts can rule out).
    """
    inside = np.diag(seen) / np.maximum(seen.sum(axis=1), 1e-12)
    if accounts is not None and z > 0:
        inside = upper_share(inside, accounts, z=z)
    by_chance = np.diag(chance) / np.maximum(chance.sum(axis=1), 1e-12)
    return np.asarray((inside - by_chance) / np.maximum(1.0 - by_chance, 1e-12), dtype=np.float64)


def upper_share(share: FloatArray, accounts: FloatArray, *, z: float) -> FloatArray:
    """Wilson's upper bound, ``z`` errors up, of a ``share`` of ``accounts`` draws (none: 1)."""
    n = np.maximum(accounts, 1.0)
    wilson = (share + z * z / (2 * n) + z * np.sqrt(share * (1.0 - share) / n + z * z / (4 * n * n))) / (
        1.0 + z * z / n
    )
    return np.asarray(np.where(accounts > 0, np.minimum(wilson, 1.0), 1.0), dtype=np.float64)


def _regions(user: IntArray, unit: IntArray, community: IntArray) -> tuple[IntArray, IntArray]:
    """Per creator unit: its region, a part of the platform whose light accounts never reach the rest,
    and its connected part.

    Parts are the connected parts of the graph of light accounts and the units
    they engage. A part is a region of its own when it holds two audience
    communities or more: a platform of regions that never meet (languages,
    countries; simulated worlds side by side) is judged region by region, as
    if each were a platform. A part of one community (a seller's book or a
    small audience cut off from the rest, a creator no light account shares)
    joins the largest part's region, so that a book is never a region that
    explains its own pool. Region 0 holds the largest part.
    """
    n_units = len(community)
    users = np.unique(user, return_inverse=True)[1]
    n_users = int(users.max(initial=-1)) + 1
    graph = sparse.coo_matrix(
        (np.ones(len(user)), (users, n_users + unit)), shape=(n_users + n_units, n_users + n_units)
    )
    part = csgraph.connected_components(graph, directed=False)[1][n_users:]
    part = np.unique(part, return_inverse=True)[1]
    n_parts = int(part.max(initial=-1)) + 1
    held = np.bincount(distinct(part * (n_units + 1) + community) // (n_units + 1), minlength=n_parts)
    largest = int(np.argmax(np.bincount(part, minlength=n_parts)))
    region = np.where(held[part] >= 2, part, largest)
    # numbered by size, the largest part's region first
    order = np.argsort(-np.bincount(region, minlength=n_parts), kind="stable")
    rank = np.empty(n_parts, dtype=np.int64)
    rank[order] = np.arange(n_parts)
    return np.unique(rank[region], return_inverse=True)[1].astype(np.int64), part.astype(np.int64)


def _post_units(
    engagements: pd.DataFrame, posts: IntArray, n_posts: int, studios: pd.Series | None
) -> IntArray:
    """Per post code: its creator unit, numbered from 0.

    The unit is the post's studio when ``studios`` (post_id to studio_id) names
    one, else its creator; a post of an unknown creator is a unit of its own.
    """
    unit = np.full(n_posts, -1, dtype=np.int64)
    has = posts >= 0
    if "creator_id" in engagements:
        unit[posts[has]] = codes(engagements["creator_id"])[has]
    if studios is not None and len(studios):
        rows = np.flatnonzero(has)
        first = np.zeros(n_posts, dtype=np.int64)
        first[posts[rows][::-1]] = rows[::-1]
        studio = codes(pd.Series(studios.reindex(engagements["post_id"].to_numpy()[first]).to_numpy()))
        unit = np.where(studio >= 0, int(unit.max(initial=-1)) + 1 + studio, unit)
    unknown = unit < 0
    unit[unknown] = int(unit.max(initial=-1)) + 1 + np.arange(int(unknown.sum()))
    return np.unique(unit, return_inverse=True)[1].astype(np.int64)


def _communities(
    user: IntArray,
    unit: IntArray,
    n_units: int,
    *,
    params: AudienceParams,
    account_weight: FloatArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Per creator unit: its audience community, inferred from the light accounts units share, at
    ``min_insularity`` and at ``pool_min_insularity`` (the pool test's).

    Louvain communities of the unit graph, each unit tied to its ``neighbours``
    strongest neighbours by the accounts they share beyond a configuration
    model. A community of fewer than ``min_community_creators`` units joins
    the large community it shares most with; then, least insular first, a
    community whose co-engagement beyond chance stays inside less than
    ``min_insularity`` of the time joins the one it shares most with.
    """
    pairs = distinct(user * n_units + unit)
    accounts, rows = np.unique(pairs // n_units, return_inverse=True)
    x = sparse.csr_matrix((np.ones(len(pairs)), (rows, pairs % n_units)), shape=(len(accounts), n_units))
    weight = np.ones(len(accounts)) if account_weight is None else account_weight[accounts]
    shared = sparse.triu(x.T @ sparse.diags(weight) @ x, k=1).tocoo()
    a, b = shared.row.astype(np.int64), shared.col.astype(np.int64)
    engagers, spread = x.T @ weight, np.asarray(x.sum(axis=1)).ravel()
    chance = (
        float((weight * spread * (spread - 1)).sum()) * engagers[a] * engagers[b] / float(engagers.sum()) ** 2
    )
    excess = shared.data - chance
    tied = excess > 0
    # units tied to none (no light engager shared beyond chance) join the largest audience at the end
    placed = np.zeros(n_units, dtype=bool)
    placed[a[tied]], placed[b[tied]] = True, True
    strongest = _strongest(a[tied], b[tied], excess[tied], params.neighbours)
    found = _louvain(
        a[tied][strongest],
        b[tied][strongest],
        excess[tied][strongest],
        np.flatnonzero(placed),
        n_units,
        params,
    )
    k = int(found.max(initial=-1)) + 1
    if k < 2:
        return np.zeros(n_units, dtype=np.int64), np.zeros(n_units, dtype=np.int64)
    # every shared account counts, not only ties beyond chance: a seller's book, tied inside by its
    # pool, shares its creators' organic fans with the rest as chance says and is no audience
    both = placed[a] & placed[b]
    observed = _pair_sums(found[a[both]], found[b[both]], shared.data[both], k)
    # chance over every pair of placed units, those that share no account included
    mass = np.bincount(found[placed], weights=engagers[placed], minlength=k).astype(np.float64)
    per_pair = float((weight * spread * (spread - 1)).sum()) / float(engagers.sum()) ** 2
    own = np.bincount(found[placed], weights=engagers[placed] ** 2, minlength=k).astype(np.float64)
    expected = (np.outer(mass, mass) - np.diag(own)) * per_pair
    sizes = np.bincount(found[placed], minlength=k)
    coarse, finer = _agglomerate(observed, expected, sizes, params=params)
    return _placed(coarse, found, placed), _placed(finer, found, placed)


def _placed(group: IntArray, found: IntArray, placed: npt.NDArray[np.bool_]) -> IntArray:
    """Per unit the community numbered ``group`` of its Louvain community; units tied to none join the
    largest."""
    number = np.unique(group, return_inverse=True)[1]
    out = np.full(len(found), int(np.argmax(np.bincount(number[found[placed]]))), dtype=np.int64)
    out[placed] = number[found[placed]]
    return out


def _strongest(a: IntArray, b: IntArray, weight: FloatArray, k: int) -> npt.NDArray[np.bool_]:
    """Per edge: it is among the ``k`` heaviest of either end."""
    end = np.r_[a, b]
    edge = np.r_[np.arange(len(a)), np.arange(len(a))]
    order = np.lexsort((-np.r_[weight, weight], end))
    ends = end[order]
    rank = np.arange(len(ends)) - np.searchsorted(ends, ends, side="left")
    keep = np.zeros(len(a), dtype=bool)
    keep[edge[order][rank < k]] = True
    return keep


def _louvain(
    a: IntArray, b: IntArray, weight: FloatArray, nodes: IntArray, n: int, params: AudienceParams
) -> IntArray:
    """Per node its Louvain community, numbered by smallest member; -1 for nodes not in ``nodes``."""
    import networkx as nx  # lazy: networkx costs import time

    # each connected part on its own: modularity over audiences that never meet merges a small
    # audience of one part with its neighbours (the resolution limit grows with the whole graph)
    found = [
        members
        for part in _parts(a, b, weight, nodes, n)
        for members in nx.community.louvain_communities(part, weight="weight", seed=params.louvain_seed)
    ]
    out = np.full(n, -1, dtype=np.int64)
    for number, members in enumerate(sorted(found, key=min)):
        out[np.fromiter(members, dtype=np.int64)] = number
    return out


def _parts(a: IntArray, b: IntArray, weight: FloatArray, nodes: IntArray, n: int) -> Iterator[nx.Graph]:
    """The connected parts of the graph of ``nodes`` (ascending) and edges ``a``-``b``, each its own graph.

    Each part holds its nodes in ``nodes``' order and its edges in the given order, so its nodes and
    every node's neighbours iterate as in a subgraph view of the whole graph, which Louvain's visiting
    order (and so its communities) follows; a graph of its own is not filtered on every step.
    """
    import networkx as nx

    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    label = np.asarray(csgraph.connected_components(graph, directed=False)[1], dtype=np.int64)
    node_order = nodes[np.argsort(label[nodes], kind="stable")]
    edge_order = np.argsort(label[a], kind="stable")
    present = distinct(label[nodes])
    ends = np.r_[present, n]
    node_bounds = np.asarray(np.searchsorted(label[node_order], ends), dtype=np.int64)
    edge_bounds = np.asarray(np.searchsorted(label[a][edge_order], ends), dtype=np.int64)
    for k in range(len(present)):
        part = nx.Graph()
        part.add_nodes_from(node_order[node_bounds[k] : node_bounds[k + 1]].tolist())
        edges = edge_order[edge_bounds[k] : edge_bounds[k + 1]]
        part.add_weighted_edges_from(
            zip(a[edges].tolist(), b[edges].tolist(), weight[edges].tolist(), strict=True)
        )
        yield part


def _pair_sums(ca: IntArray, cb: IntArray, value: FloatArray, k: int) -> FloatArray:
    """Symmetric k x k sums of ``value`` over unit pairs, by the pair's communities."""
    out = np.zeros((k, k))
    np.add.at(out, (ca, cb), value)
    return out + out.T


def _agglomerate(
    observed: FloatArray, expected: FloatArray, size: IntArray, *, params: AudienceParams
) -> tuple[IntArray, IntArray]:
    """Per found community the audience it joins, at ``min_insularity`` and at ``pool_min_insularity``:
    small or mixed communities merge until none is left.

    ``observed`` and ``expected`` hold the shared accounts per pair of the
    found communities (both ends counted), ``size`` their units. Communities of
    fewer than ``min_community_creators`` units join, all at once and in
    rounds, the community they share most with beyond chance. Then, while a
    community is less insular than the bar, the least insular joins the one
    it shares most with (insularity: ``_insular``). The merges are the same
    whatever the bar, so the partition at the lower bar is the higher's
    before its last merges: a finer one.
    """
    group = _join_small(observed, expected, size, params=params)
    low, high = sorted((params.pool_min_insularity, params.min_insularity))
    at_low = None
    seen, chance, units = _merged(observed, expected, size, group)
    while len(units) > 1:
        insular = _insular(seen, chance)
        worst = int(np.argmin(insular))
        if at_low is None and insular[worst] >= low:
            at_low = group
        if insular[worst] >= high:
            break
        ties = seen[worst] - chance[worst]
        ties[worst] = -np.inf
        number = np.unique(group, return_inverse=True)[1]
        number[number == worst] = int(np.argmax(ties))
        group = number
        seen, chance, units = _merged(observed, expected, size, group)
    at_low = group if at_low is None else at_low
    finer = at_low if params.pool_min_insularity <= params.min_insularity else group
    coarse = group if params.pool_min_insularity <= params.min_insularity else at_low
    return (
        np.asarray(np.unique(coarse, return_inverse=True)[1], dtype=np.int64),
        np.asarray(np.unique(finer, return_inverse=True)[1], dtype=np.int64),
    )


def _join_small(
    observed: FloatArray, expected: FloatArray, size: IntArray, *, params: AudienceParams
) -> IntArray:
    """Per found community its group once communities of fewer than ``min_community_creators`` units
    joined, in rounds, the community they share most with beyond chance (ties to the larger)."""
    group = np.arange(len(size))
    while True:
        seen, chance, units = _merged(observed, expected, size, group)
        small = units < params.min_community_creators
        if len(units) < 2 or not small.any():
            return group
        ties = seen - chance + 1e-9 * units[None, :] / units.max()
        np.fill_diagonal(ties, -np.inf)
        target = np.where(small, np.argmax(ties, axis=1), np.arange(len(units)))
        link = sparse.coo_matrix(
            (np.ones(len(units)), (np.arange(len(units)), target)), (len(units), len(units))
        )
        group = csgraph.connected_components(link, directed=False)[1][
            np.unique(group, return_inverse=True)[1]
        ]


def _merged(
    observed: FloatArray, expected: FloatArray, size: IntArray, group: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``observed``, ``expected`` and ``size`` summed over the groups (numbered in sorted order)."""
    number = np.unique(group, return_inverse=True)[1]
    merge = sparse.csr_matrix((np.ones(len(group)), (np.arange(len(group)), number)))
    return (
        np.asarray((merge.T @ sparse.csr_matrix(observed) @ merge).todense()),
        np.asarray((merge.T @ sparse.csr_matrix(expected) @ merge).todense()),
        np.bincount(number, weights=size).astype(np.float64),
    )
