"""The learned operating point, the verdict gates and the verdicts' sampling weights, on planted arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.params import PolicyParams, ScoringParams, rules_version
from tests.training.weekly import FAST_GATES
from training.gates import BacktestOutcome, VerdictJudgement, judge
from training.labels import clean_labels, label_weights
from training.operating import (
    OperatingConfig,
    beta_upper,
    evaluate_point,
    hold_out_latest,
    learn_point,
    policy_at,
)
from training.review_sample import sample_verdicts

COLD = PolicyParams()
# coarser cuts than the default keep the tests fast
CONFIG = OperatingConfig(cut_step=0.05)
POST_SIZE = 20


def planted(n_honest: int, n_fraud: int, *, risky_honest: int, risky_risk: float = 0.7) -> pd.DataFrame:
    """A scored window, one paid like per account: honest at risk 0.1 (``risky_honest`` higher), fraud 0.95.

    Honest and fraud accounts engage separate posts of ``POST_SIZE`` engagements, so the
    only holds are the all-fraud posts.
    """
    risk = np.r_[np.full(n_honest, 0.1), np.full(n_fraud, 0.95)]
    risk[:risky_honest] = risky_risk
    n = n_honest + n_fraud
    post = np.r_[np.arange(n_honest) // POST_SIZE, 10_000 + np.arange(n_fraud) // POST_SIZE]
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "user_id": [f"u{i}" for i in range(n)],
            "campaign_id": "c1",
            "post_id": [f"p{p}" for p in post],
            "creator_id": [f"k{p}" for p in post],
            "action": "like",
            "copies": 1,
            "risk": risk,
            "invalid": risk >= COLD.invalid_risk,
            "reason": "",
            "unit_price": 1.0,
        }
    )


def verdicts_of(window: pd.DataFrame, n_honest: int, *, weight: float = 1.0) -> pd.DataFrame:
    """One verdict per account of ``planted``'s window: the first ``n_honest`` honest."""
    label = (np.arange(len(window)) >= n_honest).astype(np.int64)
    return pd.DataFrame(
        {
            "account_id": window["user_id"],
            "label": label,
            "decided_at": pd.Timestamp("2026-11-05", tz="UTC"),
            "weight": weight,
        }
    )


def test_beta_bound_narrows_with_more_labels() -> None:
    assert beta_upper(0.0, 1_000, confidence=0.95) == pytest.approx(1 - 0.05**0.001, rel=1e-6)
    bounds = [beta_upper(0.001, n, confidence=0.95) for n in (200, 2_000, 20_000)]
    assert bounds[0] > bounds[1] > bounds[2] > 0.001
    assert beta_upper(0.0, 0, confidence=0.95) == 1.0


def test_learned_cut_meets_the_budget_with_the_bound() -> None:
    window = planted(3_000, 400, risky_honest=15)  # 0.5% of honest money at risk 0.7
    point = learn_point(window, verdicts_of(window, 3_000), cold=COLD, config=CONFIG)
    assert point.learned, point.note
    # the lowest cut whose review band [cut - 0.04, cut) leaves the risky honest (0.7) alone: below
    # it their posts would be held as uncertain
    assert point.policy.invalid_risk == pytest.approx(0.75)
    assert point.policy.review_risk == pytest.approx(0.71)
    assert point.policy.weak_cap == COLD.weak_cap  # risk itself is unchanged by the point
    assert point.metrics["honest_withheld"] == 0.0
    assert point.metrics["honest_withheld_upper"] <= CONFIG.honest_withheld_budget
    assert point.metrics["recall"] == 1.0 and point.metrics["precision"] == 1.0
    at_cold = point.curve[(point.curve["cut"] == 0.5) & (point.curve["hold_invalid_share"] == 0.9)]
    assert at_cold["honest_withheld"].iloc[0] == pytest.approx(0.005)
    assert rules_version(ScoringParams(policy=point.policy)) != rules_version(ScoringParams())


def test_too_few_or_too_uncertain_labels_keep_the_cold_thresholds() -> None:
    few = planted(150, 100, risky_honest=0)
    point = learn_point(few, verdicts_of(few, 150), cold=COLD, config=CONFIG)
    assert not point.learned and point.policy == COLD
    assert "150 held-out honest verdicts (need 200)" in point.note
    # 400 clean honest verdicts: even none withheld bounds the share at 0.75%, above the 0.3% budget
    thin = planted(400, 100, risky_honest=0)
    point = learn_point(thin, verdicts_of(thin, 400), cold=COLD, config=CONFIG)
    assert not point.learned and point.policy == COLD
    assert "no cut meets honest withheld <= 0.30% at 95% confidence on 400" in point.note
    assert learn_point(thin, verdicts_of(thin, 0).head(0), cold=COLD, config=CONFIG).policy == COLD


def test_money_is_weighted_by_the_verdicts_sampling() -> None:
    window = planted(1_000, 100, risky_honest=10)
    verdicts = verdicts_of(window, 1_000)
    flat = evaluate_point(window, verdicts, policy=COLD, confidence=0.95)
    assert flat["honest_withheld"] == pytest.approx(0.01)
    # the risky honest accounts were flagged (sampled surely), the rest an audit sample at 10%
    weighted = verdicts.assign(weight=np.where(np.arange(len(verdicts)) < 10, 1.0, 10.0))
    weighted.loc[verdicts["label"] == 1, "weight"] = 1.0
    point = evaluate_point(window, weighted, policy=COLD, confidence=0.95)
    assert point["honest_withheld"] == pytest.approx(10 / (10 + 990 * 10))
    assert point["honest_effective_n"] < flat["honest_effective_n"]


def test_policy_at_moves_the_band_and_hold_with_the_cut() -> None:
    assert policy_at(COLD, 0.5) is COLD
    moved = policy_at(COLD, 0.8, 1.0)
    assert (moved.invalid_risk, moved.review_risk, moved.account_flag_risk) == (0.8, 0.76, 0.8)
    assert moved.hold_invalid_share == 1.0 and moved.weak_cap == COLD.weak_cap


def test_latest_verdicts_are_held_out() -> None:
    verdicts = pd.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(10)],
            "decided_at": pd.date_range("2026-11-02", periods=10, freq="h", tz="UTC")[::-1],
        }
    )
    held = hold_out_latest(verdicts, share=0.3)
    assert held.sum() == 3 and set(verdicts.loc[held, "account_id"]) == {"a0", "a1", "a2"}


def test_propensity_weights_from_the_sampling_columns() -> None:
    raw = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "label": [1, 0, 0],
            "decided_at": "2026-11-01",
            "sampled_with_probability": [1.0, 0.05, None],
            "sample": ["flagged", "audit", None],
        }
    )
    labels = clean_labels(raw, source="verdicts.csv")
    assert label_weights(labels).tolist() == [1.0, 20.0, 1.0]
    assert label_weights(labels.drop(columns="sampled_with_probability")).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"sampled_with_probability must be in \(0, 1\]; row 2"):
        clean_labels(raw.assign(sampled_with_probability=[1.0, 0.0, 0.5]), source="verdicts.csv")
    with pytest.raises(ValueError, match="sample must be one of flagged, audit, uncertain, dispute; row 1"):
        clean_labels(raw.assign(sample=["queue", "audit", "audit"]), source="verdicts.csv")


def test_gate_refusal_names_metric_data_and_numbers() -> None:
    nothing = BacktestOutcome(0, 0.0, 0.0, 0.0, None, note="no settlements")
    suite = {"recall_ring": 0.9, "precision": 0.5, "fraud_payout_withheld_share": 0.9}
    good = {"average_precision": 0.97, "precision": 0.99, "honest_withheld": 0.001, "cut": 0.8}
    data = "600 accounts, 420 honest and 180 fraud, decided 2026-11-06 to 2026-11-08"
    verdicts = VerdictJudgement(
        candidate={**good, "precision": 0.9, "honest_withheld": 0.012},
        baseline={**good, "cut": 0.5},
        reference="the champion (version 3)",
        data=data,
    )
    result = judge(
        suite, {**suite, "recall_ring": 1.0}, nothing, FAST_GATES, suite_data="suite X", verdicts=verdicts
    )
    assert not result.passed
    assert result.reasons == (
        f"held-out verdicts ({data}): precision 0.9000 at the candidate's cut 0.80 is worse than the "
        "champion (version 3)'s 0.9900 at its cut 0.50 by more than 0.02",
        f"held-out verdicts ({data}): honest_withheld 1.2000% at the candidate's cut 0.80 is worse than "
        "the champion (version 3)'s 0.1000% at its cut 0.50 by more than 0.001",
        "suite X: recall_ring 0.9000 is worse than the champion's 1.0000 by more than 0.02",
    )
    # with verdicts judging, the suite's precision (0.5) is no longer a reason; only schemes are
    same = VerdictJudgement(candidate=good, baseline=good, reference="the cold scorer", data=data)
    assert judge(suite, suite, nothing, FAST_GATES, verdicts=same).passed
    first = judge({**suite, "fraud_payout_withheld_share": 0.2}, None, nothing, FAST_GATES, verdicts=same)
    assert first.reasons == ("simulated suite: fraud_payout_withheld_share 0.2000 is below the floor 0.5",)


def test_each_reason_is_measured_and_judged_on_the_verdicts() -> None:
    window = planted(1_000, 100, risky_honest=20)
    reason = np.where(np.arange(len(window)) < 20, "ip_farm", np.where(window["risk"] >= 0.5, "pool", ""))
    window = window.assign(reason=reason)
    point = evaluate_point(window, verdicts_of(window, 1_000), policy=COLD, confidence=0.95)
    assert point["accounts.reason.pool"] == 100 and point["precision.reason.pool"] == 1.0
    assert point["accounts.reason.ip_farm"] == 20 and point["precision.reason.ip_farm"] == 0.0
    assert point["honest_withheld.reason.ip_farm"] == pytest.approx(0.02)
    assert point["honest_withheld.reason.pool"] == 0.0
    # the reference made the same fraud calls without the ip_farm mistake: the candidate is refused for
    # that reason alone, naming it, its numbers and its support
    reference = evaluate_point(
        window.assign(risk=np.where(reason == "ip_farm", 0.1, window["risk"])),
        verdicts_of(window, 1_000),
        policy=COLD,
        confidence=0.95,
    )
    judged = VerdictJudgement(candidate=point, baseline=reference, reference="the cold scorer", data="d")
    reasons = judge({}, None, BacktestOutcome(0, 0.0, 0.0, 0.0, None), FAST_GATES, verdicts=judged).reasons
    assert (
        "held-out verdicts (d): reason ip_farm: honest_withheld 2.0000% is worse than the cold scorer's "
        "0.0000% by more than 0.001" in reasons
    )
    assert not any("reason pool" in r for r in reasons)
    # precision per reason is compared only with enough labelled accounts behind it on both sides
    thin = {**reference, "accounts.reason.ip_farm": 20.0, "precision.reason.ip_farm": 1.0}
    judged = VerdictJudgement(candidate=point, baseline=thin, reference="the cold scorer", data="d")
    reasons = judge({}, None, BacktestOutcome(0, 0.0, 0.0, 0.0, None), FAST_GATES, verdicts=judged).reasons
    assert any("reason ip_farm: precision 0.0000 on 20 accounts is worse" in r for r in reasons)


def test_active_learning_verdicts_are_reported_apart() -> None:
    window = planted(1_000, 100, risky_honest=20, risky_risk=0.55)
    verdicts = verdicts_of(window, 1_000)
    kind = np.where(
        np.arange(len(verdicts)) < 40, "uncertain", np.where(verdicts["label"] == 1, "flagged", "audit")
    )
    point = evaluate_point(window, verdicts.assign(sample=kind), policy=COLD, confidence=0.95)
    # the 40 uncertain cases: 20 honest at risk 0.55 (flagged, wrongly) and 20 honest at 0.1
    assert point["accounts.sample.uncertain"] == 40 and point["fraud_share.sample.uncertain"] == 0.0
    assert point["precision.sample.uncertain"] == 0.0
    assert point["accounts.sample.flagged"] == 100 and point["precision.sample.flagged"] == 1.0
    assert point["accounts.sample.audit"] == 960 and point["recall.sample.flagged"] == 1.0
    assert "accounts.sample.audit" not in evaluate_point(window, verdicts, policy=COLD, confidence=0.95)


def test_simulated_review_sample_has_an_uncertain_stratum() -> None:
    n = 1_000
    accounts = pd.DataFrame(
        {
            "account_id": [f"u{i}" for i in range(n)],
            "label": (np.arange(n) % 10 == 0).astype(np.int64),
            "flagged": np.arange(n) < 200,
            "uncertain": (np.arange(n) >= 150) & (np.arange(n) < 250),
        }
    )
    start, end = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-09", tz="UTC")
    verdicts = sample_verdicts(
        accounts, n=200, seed=1, start=start, end=end, flagged_share=0.5, uncertain_share=0.1
    )
    kinds = verdicts.groupby("sample")["account_id"].agg(list)
    index = {kind: np.array([int(a[1:]) for a in ids]) for kind, ids in kinds.items()}
    assert len(index["flagged"]) == 100 and (index["flagged"] < 150).all()
    assert len(index["uncertain"]) == 20 and ((index["uncertain"] >= 150) & (index["uncertain"] < 250)).all()
    assert len(index["audit"]) == 80 and (index["audit"] >= 250).all()
    probability = verdicts.groupby("sample")["sampled_with_probability"].first()
    assert probability.to_dict() == {"audit": 80 / 750, "flagged": 100 / 150, "uncertain": 20 / 100}
    assert verdicts["decided_at"].between(start, end).all()
    # without an uncertain share the strata are the two of before
    two = sample_verdicts(accounts, n=200, seed=1, start=start, end=end, flagged_share=0.5)
    assert set(two["sample"]) == {"flagged", "audit"}
