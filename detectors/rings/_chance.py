"""A candidate ring against chance: reciprocal engagement, the concentrated pool, coverage and alts."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from detectors.rings._near import MaskArray, member_masks, near_rate
from detectors.rings._params import RingParams
from detectors.rings._window import DEGREE_CLASSES, FloatArray, IntArray, _block, _Window, degree_class
from detectors.stats import binom_log_sf, evidence_log10, poisson_log_sf
from features.arrays import csr_gather


@dataclass(frozen=True)
class _Ring:
    """A ring that passed its tests: members, accounts with scores, and its statistics."""

    creators: IntArray
    accounts: IntArray
    account_score: FloatArray
    pool_accounts: IntArray  # the other accounts concentrated on the ring
    n_alt: int
    expected_pool: float
    coverage: float
    reciprocal_pairs: int
    reciprocal_log10: float
    pool_log10: float


# --------------------------------------------------------------------------- tests


@dataclass(frozen=True)
class _PoolView:
    """The accounts engaging one group of creators and how concentrated on it each is."""

    accounts: IntArray
    account_log10: FloatArray
    threshold_log10: float  # inf when no threshold keeps chance below max_pool_fdr
    is_concentrated: npt.NDArray[np.bool_]
    engaged_other: npt.NDArray[np.bool_]  # engaged a member other than the account's owner
    expected: float  # concentrated accounts chance predicts
    # concentrated and held as a ring account on that alone: also past the threshold against the
    # members' whole share (``RingParams.other_units_chance``); the same as is_concentrated without it
    is_held: npt.NDArray[np.bool_]


def _test(members: IntArray, window: _Window, params: RingParams) -> _Ring | None:
    """The ring of a candidate if it passes the coverage, reciprocity, pool and alt tests."""
    coverage, reciprocal_log10, reciprocal_pairs = _reciprocity(members, window)
    if coverage < params.min_coverage or reciprocal_log10 < params.min_group_log10:
        return None
    view = _pool(members, window, params)
    accounts, concentrated, account_log10 = view.accounts, view.is_concentrated, view.account_log10
    pool_log10 = float(
        evidence_log10(poisson_log_sf(int(concentrated.sum()), np.maximum(view.expected, 1e-12)))
    )
    if pool_log10 < params.min_pool_log10:
        return None
    own_accounts = window.index.creator_account[members]
    owned = np.isin(window.owner[accounts], members)
    own = np.isin(accounts, own_accounts)
    chosen = view.is_held | (owned & (own | view.engaged_other))
    n_alt = int((~own[chosen]).sum())
    if n_alt < params.min_alt_accounts:
        return None
    group_score = float(
        _strength(
            min(
                reciprocal_log10 / params.min_group_log10,
                pool_log10 / params.min_pool_log10,
                coverage / max(params.min_coverage, 1e-9),
            )
        )
    )
    # an account that joins only through the pool is as strong as its own concentration test
    score = np.where(
        owned[chosen],
        group_score,
        np.minimum(group_score, _strength(account_log10[chosen] / view.threshold_log10)),
    )
    lazy_own = np.setdiff1d(own_accounts, accounts[chosen])  # creators' accounts count even if idle
    return _Ring(
        creators=members,
        accounts=np.concatenate([accounts[chosen], lazy_own]),
        account_score=np.concatenate([score, np.full(len(lazy_own), group_score)]),
        pool_accounts=accounts[concentrated],
        n_alt=n_alt,
        expected_pool=view.expected,
        coverage=coverage,
        reciprocal_pairs=reciprocal_pairs,
        reciprocal_log10=reciprocal_log10,
        pool_log10=pool_log10,
    )


def _reciprocity(members: IntArray, window: _Window) -> tuple[float, float, int]:
    """Coverage of members' posts by other members, -log10 p of their mutual events, reciprocal pairs."""
    events = _block(members, window.edges, "n_events")
    engaged = _block(members, window.edges, "n_posts")
    expected = _block(members, window.edges, "expected_events")
    coverage = float(engaged.sum() / max((len(members) - 1) * window.posts[members].sum(), 1))
    log10 = float(evidence_log10(poisson_log_sf(events.sum(), np.maximum(expected.sum(), 1e-12))))
    return coverage, log10, int(((events > 0) & (events.T > 0)).sum() // 2)


def _pool(members: IntArray, window: _Window, params: RingParams) -> _PoolView:
    """Accounts engaging the group and how concentrated on it each is, against its own audience.

    Each engager's picks beyond its first hit on the group land on the group
    with a chance ``p``, the larger of two estimates.  Local, so that creators of
    one niche sharing fans is no evidence: the chance its other engagers show,
    ``sum(x - 1) / sum(d - 1)`` over engagers that are neither members' accounts
    nor already concentrated (x creator units among the members it engaged, of
    the d units it engaged on the platform; a studio's creators are one unit, so
    its fans engaging several of them, members or not, count it once).
    Global, so that heavy engagers spreading over the whole platform cannot
    drag it below what ordinary users do: the group's share of the (account,
    unit) pairs of the platform's accounts of like activity (``_class_share``);
    with ``other_units_chance``, counted for each further hit over the member units
    not engaged yet, and a concentrated account is held as a ring account only if it
    also passes against the whole share (``_PoolView.is_held``).
    An account's test is ``P(Bin(d - 1, p) >= x - 1)``, with its own d.  Its
    threshold adapts to the group: the lowest of
    ``min_account_log10 + pool_threshold_step_log10 * k`` (k below
    ``pool_threshold_steps``) at which chance explains at most ``max_pool_fdr`` of
    the accounts that pass.  With ``near_chance``, an account's ``p`` is at least its
    neighbourhood's: the local estimate over the engagers sharing a member with it
    (``detectors.rings._near``).
    """
    pool = window.pool
    rows = np.sort(csr_gather(pool.creator_ptr, pool.creator_rows, members))  # sorted rows: sorted accounts
    account = pool.account[rows]
    start = np.flatnonzero(np.r_[True, account[1:] != account[:-1]]) if len(rows) else np.zeros(0, np.int64)
    accounts = account[start]
    # counted in creator units: a fan of one studio engaging several of its creators engaged one unit
    pairs = _unit_pairs(accounts, account, pool.creator[rows], window.unit)
    hits = np.bincount(pairs.account, minlength=len(accounts)).astype(np.int64)
    degree = pool.unit_degree[rows][start]
    background = ~np.isin(window.owner[accounts], members)
    eligible = ~np.isin(accounts, window.index.creator_account[members])  # the pool is not the creators
    platform = int(np.bincount(window.index.creator_platform[members]).argmax())
    masks = (
        member_masks(accounts, account, pool.creator[rows], np.unique(window.unit[members]), window.unit)
        if params.near_chance
        else None
    )
    # first locally, where the pool itself raises chance; then without the pool it found, at least
    # the share of the platform's like accounts (a pool cannot make its own class look ordinary now)
    view = _concentration(
        accounts, hits, degree, background, eligible, params, share=np.zeros(1), masks=masks
    )
    if view.is_concentrated.any():
        background &= ~view.is_concentrated
        share, guard = _class_share(pairs, degree, background, pool.degree_mass[platform], params)
        view = _concentration(
            accounts, hits, degree, background, eligible, params, share=share, masks=masks, guard=guard
        )
    other = pool.creator[rows] != window.owner[account]
    return replace(view, engaged_other=np.add.reduceat(other, start) > 0 if len(rows) else view.engaged_other)


@dataclass(frozen=True)
class _UnitPairs:
    """The distinct (engager, member unit) pairs of a group's engagers."""

    account: IntArray  # per pair: the engager's position in the group's sorted engagers
    unit: IntArray  # per pair: the member unit, coded 0..n-1


def _unit_pairs(accounts: IntArray, account: IntArray, creator: IntArray, unit: IntArray) -> _UnitPairs:
    """The distinct (account, creator unit) pairs of rows ``account`` x ``creator`` (``accounts``: the
    rows' accounts, sorted and distinct)."""
    n_units = int(unit.max(initial=0)) + 1
    pairs = np.unique(account * n_units + unit[creator])
    return _UnitPairs(
        np.searchsorted(accounts, pairs // n_units).astype(np.int64),
        np.unique(pairs % n_units, return_inverse=True)[1].astype(np.int64).reshape(-1),
    )


def _is_focused(hits: IntArray, degree: IntArray, params: RingParams) -> npt.NDArray[np.bool_]:
    """The effect-size floor: ``min_account_members`` members and ``min_account_focus`` of its creators."""
    return (hits >= params.min_account_members) & (hits >= params.min_account_focus * degree)


def _class_share(
    pairs: _UnitPairs,
    degree: IntArray,
    background: npt.NDArray[np.bool_],
    mass: FloatArray,
    params: RingParams,
) -> tuple[FloatArray, FloatArray | None]:
    """Per degree (rows) and hits so far (column k: after k + 1 hits): the chance that an account's
    next pick lands on the group, from the group's share of the pairs of background accounts of its
    activity class.

    ``mass`` holds the platform's pairs per class; accounts outside the
    background (members', concentrated) are taken out of it. A class with few
    pairs is pulled towards the group's share over the classes of two creators or more.
    Without ``params.other_units_chance`` every column is that share; with it, a
    unit the account already engaged is not picked again (``_other_units``). Returns the chances
    per degree and hits so far, and with the switch the whole share per degree (the guard of
    ``_concentration``).
    """
    cls = degree_class(degree)
    taken = np.bincount(cls[~background], weights=degree[~background], minlength=DEGREE_CLASSES)
    kept = background[pairs.account]
    n_units = int(pairs.unit.max(initial=0)) + 1
    group = np.bincount(
        cls[pairs.account[kept]] * n_units + pairs.unit[kept], minlength=DEGREE_CLASSES * n_units
    ).reshape(DEGREE_CLASSES, n_units)
    mass = np.maximum(mass - taken, 0.0)
    # an account of one creator has no second pick: its class says nothing about overlap
    overall = group[2:].sum(axis=0) / max(float(mass[2:].sum()), 1.0)
    unit_share = (group + _PRIOR_PAIRS * overall) / (mass + _PRIOR_PAIRS)[:, None]
    whole = unit_share.sum(axis=1)
    rates = _other_units(unit_share) if params.other_units_chance else whole[:, None]
    cls = degree_class(np.arange(int(degree.max(initial=1)) + 1))
    guard = np.asarray(whole[cls], dtype=np.float64) if params.other_units_chance else None
    return np.asarray(rates[cls], dtype=np.float64), guard


def _other_units(unit_share: FloatArray) -> FloatArray:
    """Per class (``unit_share[class, u]``: unit u's share of the class's pairs, S their sum) and
    hits so far k + 1: the chance the next pick lands on a unit not hit yet.

    An account engages a unit once, and the unit it hits is drawn by its share: the
    expected share left after a hit is ``w_u * (1 - w_u / W)`` per unit (``W = sum w``),
    and a pick lands on the group's rest with ``W / (1 - (S - W))`` (the units hit are
    off the platform for it). A group whose share sits in two big creators is hit once
    by many of their fans and again far less often than S (history dev seed 54's ring:
    S 0.29, after one hit 0.22, after two 0.10).
    """
    total = unit_share.sum(axis=1)
    left = unit_share.copy()
    rates = np.empty((len(left), max(left.shape[1] - 1, 1)), dtype=np.float64)
    for k in range(rates.shape[1]):
        left = left - left * left / np.maximum(left.sum(axis=1), 1e-12)[:, None]
        rest = left.sum(axis=1)
        rates[:, k] = rest / np.maximum(1.0 - total + rest, 1e-12)
    return rates


def _hit_rate(rates: FloatArray, row: IntArray, hits: IntArray) -> FloatArray:
    """Per (``row`` of ``rates``: chances of the next pick after 1, 2, ... hits; ``hits``): the one
    binomial rate for reaching ``hits`` hits, the geometric mean of the chances of the ``hits - 1``
    picks it takes beyond the first (the rare tail's leading term is then exact); the row's rate
    where it does not vary."""
    k = rates.shape[1]
    m = np.clip(hits - 1, 1, k)
    mean = np.exp(np.cumsum(np.log(rates), axis=1)[row, m - 1] / m)
    varies = rates.max(axis=1) > rates.min(axis=1)
    return np.asarray(np.where(varies[row], mean, rates[row, 0]), dtype=np.float64)


# pairs of prior weight pulling a thin activity class's share towards the group's overall share
_PRIOR_PAIRS = 100.0


def _concentration(
    accounts: IntArray,
    hits: IntArray,
    degree: IntArray,
    background: npt.NDArray[np.bool_],
    eligible: npt.NDArray[np.bool_],
    params: RingParams,
    *,
    share: FloatArray,
    masks: MaskArray | None = None,
    guard: FloatArray | None = None,
) -> _PoolView:
    """Per-account concentration tests: ``p`` from the ``background`` engagers, at least ``share[d]``
    (per degree and hits so far, ``_class_share``; and, with ``masks``, at least the account's
    neighbourhood rate). With ``guard`` (the members' whole share per degree), a concentrated account
    is held only if its test against that share passes too, at the threshold that share finds for the
    group (this one where it finds none; ``_PoolView.is_held``)."""
    spare = np.maximum(degree - 1, 0)
    local = float((hits - 1)[background].sum() / max(spare[background].sum(), 1))
    is_focused = eligible & _is_focused(hits, degree, params)
    near = np.zeros(len(accounts))
    if masks is not None:
        near = near_rate(
            masks,
            (hits - 1).astype(np.float64),
            spare.astype(np.float64),
            background,
            is_focused,
            prior_rate=local,
            prior_pairs=params.near_prior_pairs,
        )
    tests = _Tests(hits, degree, is_focused, near)
    account_log10, chance = tests.scores(local, share)
    threshold, expected = _threshold(account_log10, chance, params)
    is_concentrated = account_log10 >= threshold
    is_held = is_concentrated
    if guard is not None and is_concentrated.any():
        whole_log10, whole_chance = tests.scores(local, guard[:, None])
        bar = _threshold(whole_log10, whole_chance, params)[0]
        is_held = is_concentrated & (whole_log10 >= (bar if np.isfinite(bar) else threshold))
    empty = np.zeros(len(accounts), dtype=bool)
    return _PoolView(accounts, account_log10, threshold, is_concentrated, empty, expected, is_held)


@dataclass(frozen=True)
class _Tests:
    """A group's engagers as the concentration tests read them."""

    hits: IntArray
    degree: IntArray
    is_focused: npt.NDArray[np.bool_]  # past the effect-size floor; only these are tested
    near: FloatArray  # neighbourhood rate (0 without ``near_chance``)

    def scores(self, local: float, share: FloatArray) -> tuple[FloatArray, _ChanceTable]:
        """-log10 p per account (0 unless focused) and the chance table, with chances at least
        ``local`` and ``share[d]`` (per degree and hits so far), focused accounts' at least ``near``."""
        hits, degree, focused = self.hits, self.degree, self.is_focused
        rates = np.clip(np.maximum(local, np.atleast_2d(share)), 1e-6, 0.999)
        rates = rates[np.minimum(np.arange(max(len(rates), int(degree.max(initial=1)) + 1)), len(rates) - 1)]
        p = rates[degree, 0]
        focused_rates = np.clip(np.maximum(rates[degree[focused]], self.near[focused, None]), 1e-6, 0.999)
        p[focused] = _hit_rate(focused_rates, np.arange(len(focused_rates)), hits[focused])
        log10 = np.where(focused, evidence_log10(binom_log_sf(hits - 1, np.maximum(degree - 1, 0), p)), 0.0)
        chance = _ChanceTable.build(np.bincount(degree, minlength=len(rates)).astype(np.float64), rates)
        return log10, chance


def _threshold(account_log10: FloatArray, chance: _ChanceTable, params: RingParams) -> tuple[float, float]:
    """The lowest threshold at which chance explains at most ``max_pool_fdr`` of the accounts that pass,
    and the number chance explains there (inf and 0 when none does)."""
    steps = params.pool_threshold_step_log10 * np.arange(params.pool_threshold_steps)
    for t in params.min_account_log10 + steps:
        n_pass, n_chance = int((account_log10 >= t).sum()), chance.expected(t)
        if n_pass and n_chance <= params.max_pool_fdr * n_pass:
            return float(t), n_chance
    return np.inf, 0.0


@dataclass(frozen=True)
class _ChanceTable:
    """-log10 P(Bin(d - 1, p) >= x - 1) for every engager degree d and 2 <= x <= d."""

    accounts: FloatArray  # per degree segment: engagers with that degree
    start: IntArray  # segment starts in log10
    log10: FloatArray

    @classmethod
    def build(cls, hist: FloatArray, rates: FloatArray) -> _ChanceTable:
        """The table of one group's engagers (``hist[d]`` engagers of degree d, ``rates[d]`` their
        chances of a next hit after 1, 2, ... hits)."""
        degrees = np.flatnonzero(hist)
        degrees = degrees[degrees >= 2]
        reps = degrees - 1
        start = np.cumsum(reps) - reps
        hits = 2 + np.arange(int(reps.sum())) - np.repeat(start, reps)
        p = _hit_rate(rates, np.repeat(degrees, reps), hits)
        log10 = evidence_log10(binom_log_sf(hits - 1, np.repeat(reps, reps), p))
        return cls(hist[degrees], start.astype(np.int64), log10)

    def expected(self, threshold_log10: float) -> float:
        """Engagers expected to pass ``threshold_log10`` if their extra picks fell at random."""
        if len(self.start) == 0:
            return 0.0
        weakest = np.minimum.reduceat(np.where(self.log10 >= threshold_log10, self.log10, np.inf), self.start)
        return float((self.accounts * 10.0**-weakest).sum())


def _strength(z: FloatArray | float) -> FloatArray:
    """Evidence in units of its threshold (>= 1 passes) as a score in [0.5, 1)."""
    return np.asarray(1.0 - 0.5 ** np.maximum(z, 1.0), dtype=np.float64)
