import numpy as np
import pandas as pd
import pytest

from features.arrays import (
    categorical,
    compact,
    csr_gather,
    csr_index,
    csr_ranges,
    distinct,
    distinct_counts,
    distinct_first,
    distinct_inverse,
    distinct_per_code,
    group_sizes,
    in_sorted,
    max_per_code,
    platform_codes,
    stable_order,
    weighted_counts,
)


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_distinct_inverse_matches_numpy_unique(n):
    x = np.random.default_rng(n).integers(-3, 40, n)
    values, inverse, counts = distinct_inverse(x)
    expected = np.unique(x, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values, expected[0])
    np.testing.assert_array_equal(inverse, expected[1])
    np.testing.assert_array_equal(counts, expected[2])
    np.testing.assert_array_equal(values[inverse], x)


def test_distinct_and_counts_are_sorted_unique_values():
    x = np.array([5, 1, 5, 3, 1, 5], dtype=np.int64)
    np.testing.assert_array_equal(distinct(x), [1, 3, 5])
    values, counts = distinct_counts(x)
    np.testing.assert_array_equal(values, [1, 3, 5])
    np.testing.assert_array_equal(counts, [2, 1, 3])


@pytest.mark.parametrize(
    ("n", "low", "high", "dtype"),
    [
        (1, 7, 8, np.int64),
        (5_000, -3, 40, np.int64),  # dense: marked over the range
        (5_000, -(2**40), 2**40, np.int64),  # sparse: sorted
        (5_000, 0, 8 * 5_000, np.int64),  # at most 8 x n values in range: marked, counted by a sort
        (5_000, 10, 10 + 5_000, np.int64),  # at most n: counted over the range too
        (5_000, -128, 128, np.int8),  # offsets that overflow int8
        (5_000, 2**63, 2**63 + 50, np.uint64),  # unsigned above int64's range
    ],
)
def test_distinct_and_counts_match_numpy_unique_dense_or_sorted(n, low, high, dtype):
    drawn = np.uint64 if dtype is np.uint64 else np.int64
    x = np.random.default_rng(n).integers(low, high, n, dtype=drawn).astype(dtype)
    expected, expected_counts = np.unique(x, return_counts=True)
    values = distinct(x)
    assert values.dtype == np.int64
    np.testing.assert_array_equal(values, expected.astype(np.int64))
    values, counts = distinct_counts(x)
    np.testing.assert_array_equal(values, expected.astype(np.int64))
    np.testing.assert_array_equal(counts, expected_counts)
    assert counts.dtype == np.int64
    # in order already (with repeats, and distinct): no sort, the same values
    for ordered in (np.sort(x), np.unique(x)):
        values = distinct(ordered)
        assert values.dtype == np.int64
        np.testing.assert_array_equal(values, expected.astype(np.int64))


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_in_sorted_matches_numpy_isin(n):
    rng = np.random.default_rng(n)
    for values in (np.sort(rng.integers(-50, 50, n)), distinct(rng.integers(-(2**40), 2**40, n))):
        x = rng.integers(-60, 60, 3 * n + 1)
        x[: len(values)] = values[rng.permutation(len(values))]  # every value asked for, and others
        found = in_sorted(x, values)
        assert found.dtype == np.bool_
        np.testing.assert_array_equal(found, np.isin(x, values))
    assert in_sorted(np.array([3, 4]), np.zeros(0, dtype=np.int64)).tolist() == [False, False]


def test_group_sizes_counts_each_elements_key():
    keys = np.array([7, 2, 7, 7, 2, 9], dtype=np.int64)
    np.testing.assert_array_equal(group_sizes(keys), [3, 2, 3, 3, 2, 1])
    assert group_sizes(np.zeros(0, dtype=np.int64)).dtype == np.int64


@pytest.mark.parametrize("spread", [3, 50_000, 2**40])
def test_group_sizes_of_dense_and_sparse_keys_match_numpy_unique(spread):
    # keys over a narrow range (counted over it) and a wide one (sorted), negative ones and unsigned ones
    rng = np.random.default_rng(spread)
    for keys in (rng.integers(-spread, spread, 20_000), rng.integers(0, spread, 20_000).astype(np.uint64)):
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        out = group_sizes(keys)
        np.testing.assert_array_equal(out, counts[inverse])
        assert out.dtype == np.int64


def test_compact_ranks_codes_among_the_present_ones():
    values, rank = compact(np.array([4, 1, 4, 6], dtype=np.int64), 8)
    np.testing.assert_array_equal(values, [1, 4, 6])
    np.testing.assert_array_equal(rank, [1, 0, 1, 2])


def test_weighted_counts_sums_per_code_as_floats():
    out = weighted_counts(np.array([0, 2, 2], dtype=np.int64), np.array([True, True, False]), 4)
    np.testing.assert_array_equal(out, [1.0, 0.0, 1.0, 0.0])
    assert out.dtype == np.float64


def test_csr_index_groups_positions_by_key_and_gathers_them():
    keys = np.array([2, 0, 2, 1, 0], dtype=np.int64)
    ptr, rows = csr_index(keys, 4)
    np.testing.assert_array_equal(ptr, [0, 2, 3, 5, 5])
    np.testing.assert_array_equal(rows, [1, 4, 3, 0, 2])
    np.testing.assert_array_equal(csr_ranges(ptr, np.array([2, 0])), [3, 4, 0, 1])
    np.testing.assert_array_equal(csr_gather(ptr, rows, np.array([2, 0])), [0, 2, 1, 4])
    empty = csr_ranges(ptr, np.array([3], dtype=np.int64))
    assert empty.dtype == np.int64 and len(empty) == 0


@pytest.mark.parametrize(
    ("n", "low", "high", "dtype"),
    [
        (0, 0, 1, np.int64),
        (1, 0, 1, np.int64),
        (5_000, -3, 40, np.int64),  # many ties, negative keys
        (5_000, 0, 2**60, np.int64),  # too wide to pack: the merge sort
        (5_000, 2**63, 2**63 + 50, np.uint64),  # unsigned above int64's range
        (5_000, 0, 30, np.int32),
        (5_000, -128, 128, np.int8),  # a 16-bit radix sort of offsets that overflow int8
        (5_000, 5, 5 + 2**16, np.int64),  # the widest range the radix sort takes
        (5_000, 5, 6 + 2**16, np.int64),  # one more: packed
    ],
)
def test_stable_order_is_numpys_stable_argsort(n, low, high, dtype):
    drawn = np.uint64 if dtype is np.uint64 else np.int64
    keys = np.random.default_rng(n).integers(low, high, n, dtype=drawn).astype(dtype)
    order = stable_order(keys)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))


def test_stable_order_keeps_float_keys_stable():
    keys = np.array([0.0, -0.0, 1.5, 0.0, -0.0])
    np.testing.assert_array_equal(stable_order(keys), [0, 1, 3, 4, 2])


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_distinct_first_matches_numpy_unique_with_first_positions(n):
    x = np.random.default_rng(n).integers(-3, 40, n)
    found = distinct_first(x)
    expected = np.unique(x, return_index=True, return_inverse=True)
    for got, want in zip(found, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_categorical_is_from_codes_without_checking_the_categories_again():
    row_codes = np.array([2, 0, -1, 1, 2], dtype=np.int64)
    categories = pd.Index(["b", "a", "c"], dtype="str")
    made = categorical(row_codes, categories)
    expected = pd.Categorical.from_codes(row_codes, categories=categories)
    pd.testing.assert_series_equal(pd.Series(made), pd.Series(expected), check_exact=True)
    assert made.codes.dtype == expected.codes.dtype and made.dtype == expected.dtype
    assert made.categories.dtype == "str" and made.tolist()[:2] == ["c", "b"]


def test_platform_codes_split_one_id_on_two_platforms_and_keep_missing():
    frame = pd.DataFrame({"platform": ["a", "b", "a", "a"], "ip": ["x", "x", "y", None]})
    out = platform_codes(frame, "ip")
    assert out[3] == -1
    assert len({out[0], out[1], out[2]}) == 3  # x on a, x on b, y on a
    assert sorted(out[:3].tolist()) == [0, 1, 2]  # dense codes
    np.testing.assert_array_equal(platform_codes(frame.drop(columns="platform"), "ip")[:3], [0, 0, 1])


def test_distinct_per_code_and_max_per_code():
    users = np.array([0, 0, 0, 1, -1, 2])
    posts = np.array([5, 5, 7, 5, 5, -1])
    np.testing.assert_array_equal(distinct_per_code(users, posts), [2, 1, 0])
    np.testing.assert_array_equal(
        max_per_code(users, np.array([0.1, 0.4, 0.2, 0.0, 0.9, 0.3])), [0.4, 0.0, 0.3]
    )
