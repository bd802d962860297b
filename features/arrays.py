"""Integer codes of id columns and the distinct-value and grouping helpers every vectorised feature uses.

Sort-based on integer keys (numpy's hash-free ``np.unique`` is slower on wide keys),
deterministic, and typed: every index array is int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def codes(values: pd.Series) -> npt.NDArray[np.int64]:
    """Integer codes of a column, -1 where missing; free when the column is already categorical."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
    return np.asarray(pd.factorize(values)[0], dtype=np.int64)


def categorical(row_codes: npt.NDArray[np.integer], categories: pd.Index) -> pd.Categorical:
    """``pd.Categorical.from_codes(row_codes, categories=categories)`` for categories known distinct and
    not missing (a factorization's uniques, or an append of two such with no value in both) and codes
    in -1..len(categories)-1.

    pandas otherwise hashes every category again to check that they are distinct (about 0.3 s per
    million ids); the result is the same Categorical, codes of the same width.
    """
    # pandas' own constructor for categories it has checked already (``CategoricalDtype._from_fastpath``);
    # without it (a pandas that renames it) the public one, which checks them again
    trusted = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    dtype: Any = trusted(categories, False) if trusted is not None else pd.CategoricalDtype(categories)
    made: pd.Categorical = pd.Categorical.from_codes(row_codes, dtype=dtype, validate=False)
    return made


def is_in(values: pd.Series, allowed: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """Per row: the value is one of ``allowed`` (via categories when categorical)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        hit = np.isin(values.cat.categories.to_numpy(dtype=object), allowed)
        c = values.cat.codes.to_numpy()
        return np.where(c >= 0, hit[np.maximum(c, 0)], False)
    return np.asarray(values.isin(allowed).to_numpy(), dtype=bool)


def equals(values: pd.Series, wanted: str) -> npt.NDArray[np.bool_]:
    """Per row: the value equals ``wanted``."""
    return is_in(values, (wanted,))


# integer values whose range is at most this many times their number are marked in a bool array over the
# range (linear) instead of sorted: the same sorted distinct values
DENSE_RANGE = 8
# integer keys whose range fits 16 bits are ordered by numpy's stable radix sort of 16-bit integers
RADIX_RANGE = 2**16


def _dense_span(x: npt.NDArray[Any], *, per_value: int = DENSE_RANGE) -> tuple[int, int] | None:
    """(lowest value, range) of integer ``x`` when the range is at most ``per_value`` times its number of
    values (small enough to mark densely), else None."""
    if x.dtype.kind not in "iu" or len(x) == 0:
        return None
    low, high = int(x.min()), int(x.max())
    # values past int64's range keep the sorted path (its int64 result wraps them, as it always did)
    return (low, high - low + 1) if high - low + 1 <= per_value * len(x) and high < 2**63 else None


def _offsets(x: npt.NDArray[Any], low: int) -> npt.NDArray[np.int64]:
    """``x - low`` as int64, exact for any integer dtype whose values are at least ``low`` and span
    less than 2**63 (a signed ``x`` widened first, an unsigned one subtracted in its own type)."""
    if x.dtype.kind == "u":
        return (x - x.dtype.type(low)).astype(np.int64)
    return x.astype(np.int64) - low


def _sorted(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``x`` sorted; integers by numpy's default (vectorised) sort, which orders equal integers as
    any other sort does, floats stably (a stable sort keeps -0.0 and 0.0 in their order)."""
    return np.sort(x) if np.asarray(x).dtype.kind in "iub" else np.sort(x, kind="stable")


def stable_order(keys: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``np.argsort(keys, kind="stable")``: integer keys spanning fewer than ``RADIX_RANGE`` values by
    numpy's radix sort of their 16-bit offsets; wider ones by one vectorised sort of each position
    packed with its key into one int64 (key in the high bits, so ties keep their positions' order),
    many times faster than a merge sort; other keys, or keys too wide to pack, by the merge sort."""
    keys = np.asarray(keys)
    n = len(keys)
    if n == 0 or keys.dtype.kind not in "iu":
        return np.argsort(keys, kind="stable").astype(np.int64)
    low, high = int(keys.min()), int(keys.max())
    if high - low < RADIX_RANGE:
        return np.argsort(_offsets(keys, low).astype(np.uint16), kind="stable").astype(np.int64)
    # positions take the low bits: a shift and a mask, not a multiplication and a division
    bits = max(n - 1, 1).bit_length()
    if (high - low + 1) << bits >= 2**62:
        return np.argsort(keys, kind="stable").astype(np.int64)
    packed = (keys - keys.dtype.type(low)).astype(np.int64) << bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << bits) - 1
    return packed


def distinct(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values of an integer array (a sort and a diff: faster than np.unique here; values
    spanning at most ``DENSE_RANGE`` times their number are marked over their range, faster still; values
    in order already, as keys built from sorted distinct pairs, are not sorted again)."""
    if len(x) == 0:
        return np.asarray(x, dtype=np.int64)
    if np.asarray(x).dtype.kind in "iu" and bool((x[1:] >= x[:-1]).all()):
        # in order already: one comparison, no sort
        return np.asarray(x[np.r_[True, x[1:] != x[:-1]]], dtype=np.int64)
    dense = _dense_span(np.asarray(x))
    if dense is not None:
        low, span = dense
        seen = np.zeros(span, dtype=bool)
        seen[_offsets(np.asarray(x), low)] = True
        return np.flatnonzero(seen).astype(np.int64) + low
    ordered = _sorted(x)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return np.asarray(ordered[keep], dtype=np.int64)


def in_sorted(x: npt.ArrayLike, values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """``np.isin(x, values)`` for integer ``values`` sorted ascending (``distinct``'s, say): a binary
    search per element of ``x`` instead of numpy's sort of both (several times faster at 100k+)."""
    x = np.asarray(x)
    if len(values) == 0:
        return np.zeros(x.shape, dtype=bool)
    at = np.searchsorted(values, x)
    return np.asarray(values[np.minimum(at, len(values) - 1)] == x, dtype=bool)


def distinct_counts(x: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted distinct values of an integer array and how often each occurs."""
    if len(x) == 0:
        empty = np.asarray(x, dtype=np.int64)
        return empty, empty
    # int64 counts over the range: no more of them than values, so no more memory than ``x``
    dense = _dense_span(np.asarray(x), per_value=1)
    if dense is not None:
        low, span = dense
        counts = np.bincount(_offsets(np.asarray(x), low), minlength=span)
        present = np.flatnonzero(counts)
        return present.astype(np.int64) + low, counts[present].astype(np.int64)
    ordered = _sorted(x)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    return np.asarray(ordered[starts], dtype=np.int64), counts.astype(np.int64)


def _runs(
    x: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One stable sort of ``x``: the order, the sorted values, each row's rank among the distinct
    values and where each distinct value's run starts in the sorted order."""
    order = stable_order(x)
    ordered = x[order]
    is_first = np.empty(len(x), dtype=bool)
    is_first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_first[1:])
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(is_first) - 1
    return order, ordered, inverse, np.flatnonzero(is_first)


def distinct_inverse(
    x: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(x, return_inverse=True, return_counts=True)`` by one sort (faster here)."""
    x = np.asarray(x, dtype=np.int64)
    if len(x) == 0:
        return x, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, ordered, inverse, starts = _runs(x)
    return ordered[starts], inverse, np.diff(np.r_[starts, len(x)]).astype(np.int64)


def sorted_inverse(x: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(x, return_inverse=True)`` of an ascending ``x`` (its runs: no sort)."""
    x = np.asarray(x, dtype=np.int64)
    if len(x) == 0:
        return x, np.zeros(0, dtype=np.int64)
    is_first = np.empty(len(x), dtype=bool)
    is_first[0] = True
    np.not_equal(x[1:], x[:-1], out=is_first[1:])
    return x[is_first], np.cumsum(is_first) - 1


def distinct_first(
    x: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(x, return_index=True, return_inverse=True)`` (each value's first position) by one
    stable sort of packed keys (faster here)."""
    x = np.asarray(x, dtype=np.int64)
    if len(x) == 0:
        return x, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order, ordered, inverse, starts = _runs(x)
    return ordered[starts], order[starts], inverse


def compact(x: npt.NDArray[np.int64], n_values: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct values of codes below ``n_values`` and each code's rank among them, in O(len + n_values)."""
    present = np.zeros(n_values, dtype=bool)
    present[x] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[x]


def weighted_counts(
    codes: npt.NDArray[np.int64], weights: npt.ArrayLike, n_codes: int
) -> npt.NDArray[np.float64]:
    """Per code in ``range(n_codes)``, the sum of the weights (``np.bincount`` typed as floats)."""
    return np.bincount(codes, weights=weights, minlength=n_codes).astype(np.float64, copy=False)


def group_sizes(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per element: how many elements share its key (keys spanning at most 4 times their number: counted
    over their range, no sort, in no more memory than the sort's arrays take)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    dense = _dense_span(np.asarray(keys), per_value=4)
    if dense is not None:
        offsets = _offsets(np.asarray(keys), dense[0])
        return np.bincount(offsets, minlength=dense[1])[offsets].astype(np.int64)
    order = stable_order(keys)
    s = keys[order]
    start = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[start, len(s)])
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.repeat(sizes, sizes)
    return out


def csr_index(
    keys: npt.NDArray[np.int64], n_keys: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions grouped by key: the positions of key k are ``rows[ptr[k]:ptr[k + 1]]``, in order."""
    rows = stable_order(keys)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    return ptr, rows


def csr_ranges(ptr: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Concatenated positions ``ptr[k]:ptr[k + 1]`` of several keys, without a Python loop."""
    starts, lens = ptr[keys], ptr[keys + 1] - ptr[keys]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)


def csr_gather(
    ptr: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Concatenated rows of several keys of a CSR index (see :func:`csr_index`)."""
    return rows[csr_ranges(ptr, keys)]


def footprints(
    pair_user: npt.NDArray[np.int64], pair_post: npt.NDArray[np.int64], n_users: int
) -> npt.NDArray[np.uint64]:
    """Per account (row): its footprint, the set of its posts in the (account, post) pairs, as two
    64-bit keys (0, 0: none).

    The keys are sums of random 64-bit weights of the posts: two accounts
    share them only when they share the set, or with the chance of two
    accounts drawing the same 128 random bits.
    """
    rng = np.random.default_rng(0)
    n_posts = int(pair_post.max(initial=-1)) + 1
    keys = np.zeros((n_users, 2), dtype=np.uint64)
    for column in range(2):
        weight = rng.integers(0, np.iinfo(np.uint64).max, size=n_posts, dtype=np.uint64, endpoint=True)
        np.add.at(keys[:, column], pair_user, weight[pair_post])
    return keys


def platform_codes(engagements: pd.DataFrame, column: str) -> npt.NDArray[np.int64]:
    """Codes of ``column`` within each platform (-1 where missing): the same address or account id on
    two platforms is two codes, so a frame holding whole platforms counts each as it would alone."""
    values = codes(engagements[column])
    if "platform" not in engagements:
        return values
    platform = np.maximum(codes(engagements["platform"]), 0)
    has = values >= 0
    key = platform[has] * (int(values.max(initial=-1)) + 1) + values[has]
    # dense codes of the (platform, value) pairs present, in one pass (no sort)
    present = np.zeros(int(key.max(initial=-1)) + 1, dtype=bool)
    present[key] = True
    rank = np.cumsum(present) - 1
    out = np.full(len(values), -1, dtype=np.int64)
    out[has] = rank[key]
    return out


def distinct_per_code(users: npt.NDArray[np.int64], posts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per code of ``users`` (0 .. max, -1 missing): its distinct ``posts`` codes (-1 missing)."""
    has = (users >= 0) & (posts >= 0)
    width = int(posts.max(initial=-1)) + 1
    n_users = int(users.max(initial=-1)) + 1
    return np.bincount(distinct(users[has] * width + posts[has]) // max(width, 1), minlength=n_users)


def max_per_code(users: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per code of ``users`` (0 .. max, -1 missing): the largest of its rows' ``score`` (0 without)."""
    out = np.zeros(int(users.max(initial=-1)) + 1)
    has = users >= 0
    np.maximum.at(out, users[has], score[has])
    return out
