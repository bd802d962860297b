import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from detectors.anomaly import AccountAnomalyEnsemble

EXPECTED_FAILED = {
    "check_outliers_train": "pyod semantics: higher score is riskier, labels are 0/1 not -1/+1",
    "check_outliers_fit_predict": "pyod semantics: labels are 0/1 not -1/+1",
}


@parametrize_with_checks(
    [AccountAnomalyEnsemble(n_estimators=20, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_anomaly_ensemble_sklearn_contract(estimator, check):
    check(estimator)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, 4))
    return X, np.vstack([rng.normal(size=(5, 4)), np.full((3, 4), 8.0)])


def test_anomaly_ensemble_scores_outliers_higher():
    X, batch = _data()
    model = AccountAnomalyEnsemble(random_state=0).fit(X)
    scores = model.decision_function(batch)
    assert scores[-3:].min() > scores[:5].max()
    assert ((model.decision_scores_ >= 0) & (model.decision_scores_ <= 1)).all()


def test_anomaly_ensemble_row_score_does_not_depend_on_batch():
    X, batch = _data()
    model = AccountAnomalyEnsemble(random_state=0).fit(X)
    whole = model.decision_function(batch)
    one_by_one = np.array([model.decision_function(row[None, :])[0] for row in batch])
    np.testing.assert_allclose(whole, one_by_one)


def test_anomaly_ensemble_decision_function_writes_nothing():
    X, batch = _data()
    model = AccountAnomalyEnsemble(random_state=0).fit(X)
    before = {k: v for k, v in vars(model).items() if not k.startswith("members_")}
    model.decision_function(batch)
    after = {k: v for k, v in vars(model).items() if not k.startswith("members_")}
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_equal(before[key], after[key])


def test_anomaly_ensemble_deterministic_under_random_state():
    X, batch = _data()
    a = AccountAnomalyEnsemble(random_state=3).fit(X).decision_function(batch)
    b = AccountAnomalyEnsemble(random_state=3).fit(X).decision_function(batch)
    np.testing.assert_array_equal(a, b)


def test_anomaly_ensemble_rejects_bad_contamination_in_fit_not_init():
    model = AccountAnomalyEnsemble(contamination=0.9)
    with pytest.raises(ValueError, match="contamination"):
        model.fit(np.zeros((10, 2)))


@pytest.mark.parametrize("at_least", [0.5, 0.9, 0.98])
def test_screened_decision_function_is_exact_where_a_row_can_reach_the_cut(at_least):
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(3_000, 4)), rng.normal(6.0, 1.0, size=(30, 4))])
    model = AccountAnomalyEnsemble(n_estimators=20, random_state=0).fit(X)
    full = model.decision_function(X)
    screened = model.screened_decision_function(X, at_least=at_least)
    reaches = full >= at_least
    assert reaches.sum() >= 30
    np.testing.assert_array_equal(screened[reaches], full[reaches])
    assert (screened[~reaches] < at_least).all()
