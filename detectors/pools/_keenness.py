"""Keenness: how unevenly a candidate's accounts engage its posts, against a seller's evenly worked book."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import poisson_binom

# the two-book fit (``_profile_gap``): EM rounds and random starts (seeded: the verdict is deterministic)
_EM_ROUNDS = 200
_EM_STARTS = 5
# the book's fit (``_book_fit``) stops when no post's rate moves by more than this, or after that many rounds
_FIT_TOLERANCE = 1e-6
_FIT_ROUNDS = 100
_MAX_RATE = 1.0 - 1e-9


def _keenness_excess(
    account: npt.NDArray[np.int64], post: npt.NDArray[np.int64], *, floor: int
) -> tuple[float, float]:
    """The variance of the accounts' post counts over a seller's book's (ratio) and how many standard
    errors it is above it (z), from distinct (``account``, ``post``) pairs; the accounts with fewer than
    ``floor`` posts are left out, as the candidate leaves them out. (1.0, 0.0) when the posts are too few
    to tell (a book's counts are then any counts).

    A seller dispatches each order to a share of the book, whichever of its accounts are free: an
    account's number of orders is a sum of independent draws, one per order, with the order's share as
    its chance (Poisson-binomial), the same for every account. The book's model is fitted to the
    candidate (``_book_fit``: the book's size and each post's share, so that the model's accounts with
    ``floor`` posts or more, and their posts, are the candidate's). An audience's fans are unevenly keen,
    a few on many posts and most at the floor, so their counts spread more than any such book's.
    """
    if len(account) == 0:
        return 1.0, 0.0
    _, account = np.unique(account, return_inverse=True)
    _, post = np.unique(post, return_inverse=True)
    counts = np.bincount(account)
    kept = counts >= floor
    n_posts = int(post.max()) + 1
    if n_posts <= floor or kept.sum() < 2:
        return 1.0, 0.0
    rates = _book_fit(np.bincount(post[kept[account]], minlength=n_posts), int(kept.sum()), floor=floor)
    k = np.arange(floor, n_posts + 1)
    pmf = poisson_binom.pmf(k, rates)
    pmf = pmf / pmf.sum()
    mean = float((pmf * k).sum())
    var = float((pmf * (k - mean) ** 2).sum())
    fourth = float((pmf * (k - mean) ** 4).sum())
    observed = counts[kept]
    if var <= 0.0:
        return 1.0, 0.0
    error = np.sqrt(max(fourth - var**2, 1e-12) / len(observed))
    return float(observed.var()) / var, float((observed.var() - var) / error)


def _book_fit(on_post: npt.NDArray[np.int64], accounts: int, *, floor: int) -> npt.NDArray[np.float64]:
    """Per post the share of a seller's book its order took, such that the book's accounts with ``floor``
    posts or more number ``accounts`` and engage each post ``on_post`` times (as expected)."""
    rates = np.minimum(on_post / max(accounts, 1), _MAX_RATE)
    for _ in range(_FIT_ROUNDS):
        book = accounts / max(float(poisson_binom.sf(floor - 1, rates)), 1e-12)
        # an account of post i counts when the book's other orders gave it floor - 1 posts or more
        others = np.array([poisson_binom.sf(floor - 2, np.delete(rates, i)) for i in range(len(rates))])
        fitted = np.minimum(on_post / np.maximum(book * others, 1e-12), _MAX_RATE)
        moved = float(np.abs(fitted - rates).max())
        rates = fitted
        if moved < _FIT_TOLERANCE:
            break
    return rates


def _profile_gap(account: npt.NDArray[np.int64], post: npt.NDArray[np.int64], *, floor: int) -> float:
    """How far apart two books fitted to distinct (``account``, ``post``) pairs serve the posts: the total
    variation between the two classes' post profiles (each its per-post rates, normalised) of a two-class
    Bernoulli mixture (EM, the best of ``_EM_STARTS`` seeded starts), the accounts with ``floor`` posts or
    more.

    Two sellers' books in one candidate spread more than one book (``_keenness_excess``), but each has
    its own clients' posts, or its own shares of them: the classes' profiles differ. An audience's
    uneven keenness is one axis: its classes are casual and keen fans of the same posts, in proportion."""
    counts = np.bincount(np.unique(account, return_inverse=True)[1])
    kept = (counts >= floor)[np.unique(account, return_inverse=True)[1]]
    rows = np.unique(account[kept], return_inverse=True)[1]
    cols = np.unique(post[kept], return_inverse=True)[1]
    if len(rows) == 0:
        return 0.0
    x = np.zeros((int(rows.max()) + 1, int(cols.max()) + 1))
    x[rows, cols] = 1.0
    rng = np.random.default_rng(0)
    best, profiles = -np.inf, np.zeros((2, x.shape[1]))
    for _ in range(_EM_STARTS):
        first = rng.random(len(x))
        resp = np.stack([first, 1.0 - first], axis=1)
        for _ in range(_EM_ROUNDS):
            weight = resp.mean(axis=0)
            rates = np.clip((resp.T @ x) / np.maximum(resp.sum(axis=0)[:, None], 1e-12), 1e-4, 1 - 1e-4)
            log_lik = x @ np.log(rates).T + (1 - x) @ np.log(1 - rates).T + np.log(np.maximum(weight, 1e-12))
            top = log_lik.max(axis=1, keepdims=True)
            total = np.exp(log_lik - top).sum(axis=1, keepdims=True)
            resp = np.exp(log_lik - top) / total
        fit = float((np.log(total) + top).sum())
        if fit > best:
            best, profiles = fit, rates / rates.sum(axis=1, keepdims=True)
    return float(0.5 * np.abs(profiles[0] - profiles[1]).sum())
