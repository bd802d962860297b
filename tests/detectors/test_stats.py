import numpy as np
from scipy import stats

from detectors.stats import MAX_LOG10, binom_log_sf, evidence_log10, log10_choose, poisson_log_sf


def test_poisson_log_sf_is_scipys_log_tail_where_it_is_finite():
    observed = np.array([1.0, 3.0, 10.0, 40.0])
    mean = np.array([2.0, 0.5, 3.0, 12.0])
    np.testing.assert_array_equal(poisson_log_sf(observed, mean), stats.poisson.logsf(observed - 1, mean))


def test_poisson_log_sf_edges_nothing_observed_and_no_mean():
    np.testing.assert_array_equal(poisson_log_sf([0, -2], [3.0, 3.0]), [0.0, 0.0])
    assert poisson_log_sf(2, 0.0) == -np.inf


def test_poisson_log_sf_stays_finite_deep_in_the_tail():
    deep = float(poisson_log_sf(1000, 10.0))
    assert np.isfinite(deep)
    # between the first term of the tail and twice it
    first = float(stats.poisson.logpmf(1000, 10.0))
    assert first <= deep <= first + np.log(2.0)


def test_binom_log_sf_matches_scipy_and_survives_underflow():
    np.testing.assert_allclose(binom_log_sf(3, 10, 0.2), stats.binom.logsf(2, 10, 0.2))
    assert np.isfinite(binom_log_sf(900, 1000, 0.01))


def test_evidence_log10_is_minus_log10_p_capped():
    np.testing.assert_allclose(evidence_log10(np.log([1e-3, 1.0])), [3.0, 0.0])
    out = evidence_log10([-np.inf, np.nan, -1e6, 0.0])
    np.testing.assert_array_equal(out, [MAX_LOG10, 0.0, MAX_LOG10, 0.0])
    assert not np.signbit(out).any()


def test_log10_choose():
    assert abs(log10_choose(10, 3) - np.log10(120)) < 1e-12
