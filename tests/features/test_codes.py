import numpy as np
import pytest

from features.codes import distinct, distinct_counts, distinct_inverse


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
