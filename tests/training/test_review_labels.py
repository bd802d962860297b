"""Review verdicts become labels of ``cpeguard train``: from the service database to the MLflow run.

A real app on its SQLite file settles two simulated campaigns with held posts; a reviewer decides
the open campaign's cases through the review console's services; ``cpeguard train`` then runs as a
subprocess on that home and logs how many verdicts it read, fitting the stacker only when there
are at least CPEGUARD_MIN_LABELS labelled accounts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from detectors.params import PolicyParams
from serving.labels import load_labels
from serving.review.cases import QueueFilter
from serving.review.service import build_review
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    OPEN_CAMPAIGN,
    REVIEW_PARAMS,
    load_and_settle,
    principal,
    review_events,
)
from tests.serving import conftest as serving_fixtures
from tests.serving.conftest import make_api
from tests.training.weekly import FAST_CLI_ENV, store_uri
from training.simulator import SimulatedSet
from training.tracking import EXPERIMENT, MODEL_NAME
from training.weeks import week_of

# the API tests' small simulated set, and SQLite (None) or a fresh PostgreSQL database
sim = serving_fixtures.sim
database_url = serving_fixtures.database_url


@dataclass(frozen=True)
class Reviewed:
    """A service home whose reviewer decided cases, the verdicts it holds, and a week of events."""

    home: Path
    database_url: str | None
    labels: pd.DataFrame
    events: Path
    week: str


def _review(
    root: Path,
    database_url: str | None,
    sim: SimulatedSet,
    campaigns: tuple[str, ...] = (OPEN_CAMPAIGN,),
    **overrides: Any,
) -> Reviewed:
    """Settle two campaigns on a service with ``overrides``; a reviewer decides every open post and
    account case of ``campaigns`` (alternately confirm and clear), and the app stops."""
    apps = make_api(
        root / "home", database_url, params=REVIEW_PARAMS, signoff_withheld_share=0.3, **overrides
    )
    api = next(apps)
    try:
        now = datetime.now(UTC)
        load_and_settle(api.client, api.billing, sim, now=now)
        console = build_review(api.client.app.state.services)  # type: ignore[attr-defined]
        console.cases.sync()
        cases = [
            case
            for campaign in campaigns
            for kind in ("post", "account")
            for case in console.cases.queue(QueueFilter(campaign_id=campaign, kind=kind), now=now)
        ]
        assert len(cases) >= 2
        reviewer = principal(api.client, "reviewer")
        for i, case in enumerate(cases):
            action = "confirm_fraud" if i % 2 == 0 else "clear"
            decided = console.decisions.decide(
                case.case_id, action=action, note=f"{action} in test", user=reviewer, now=now
            )
            assert decided.action == action
    finally:
        apps.close()  # the app shuts down; the verdicts stay in its database
    labels = load_labels(api.config)
    events = root / "events.parquet"
    review_events(sim).to_parquet(events)  # the week's events as the service ingested them
    return Reviewed(
        home=root / "home",
        database_url=database_url,
        labels=labels,
        events=events,
        week=week_of(datetime.now(UTC)),
    )


@pytest.fixture
def reviewed(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Reviewed:
    # every flagged account queued: labels from posts and accounts
    return _review(tmp_path / "reviewed", database_url, sim, review_auto_decide_below=0.0)


@pytest.fixture
def sampled(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Reviewed:
    """The default case policy, with 90% of the policy-decided cases near the cut and half the others
    queued: verdicts of flagged, uncertain and audit cases (about 25 near the cut: none drawn at
    odds of 1e-25)."""
    return _review(
        tmp_path / "sampled",
        database_url,
        sim,
        (OPEN_CAMPAIGN, CLOSED_CAMPAIGN),  # the closed campaign's accounts lie near the cut
        review_uncertain_share=0.9,
        review_sample_share=0.5,
    )


def _train(reviewed: Reviewed, store: str, *, min_labels: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **FAST_CLI_ENV,
        "MLFLOW_TRACKING_URI": store,
        "CPEGUARD_HOME": str(reviewed.home),
        "CPEGUARD_MIN_LABELS": str(min_labels),
    }
    env.pop("CPEGUARD_DATABASE_URL", None)
    if reviewed.database_url is not None:
        env["CPEGUARD_DATABASE_URL"] = reviewed.database_url
    command = [sys.executable, "-m", "cpeguard.cli", "train", "--week", reviewed.week]
    answer = subprocess.run(
        [*command, "--events", str(reviewed.events)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=reviewed.home.parent,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer


def _latest_run(store: str) -> mlflow.entities.Run:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]


@pytest.mark.e2e
def test_train_logs_the_review_labels_and_fits_the_stacker_only_above_min_labels(
    reviewed: Reviewed, tmp_path: Path
) -> None:
    store = store_uri(tmp_path / "mlruns")
    labels = reviewed.labels
    n_verdicts, n_accounts = len(labels), labels["account_id"].nunique()
    assert n_accounts > 5 and set(labels["label"]) == {0, 1}, labels["label"].value_counts()
    assert set(labels["source"]) == {"review"}
    week_accounts = pd.read_parquet(reviewed.events, columns=["user_id"])["user_id"].astype("str")
    assert labels["account_id"].isin(week_accounts).all()

    too_few = n_accounts + 1  # every labelled account engages in the week; one more than there are
    _train(reviewed, store, min_labels=too_few)
    refused = _latest_run(store)
    assert refused.data.metrics["labels_verdicts"] == n_verdicts
    assert refused.data.metrics["labels_accounts"] == n_accounts
    assert refused.data.metrics["stacker_labelled_accounts"] == n_accounts
    assert refused.data.metrics["stacker_fitted"] == 0
    assert refused.data.params["min_labels"] == str(too_few)
    assert f"{n_accounts} labelled accounts in the week (need {too_few}" in refused.data.params["stacker"]

    _train(reviewed, store, min_labels=5)
    fitted = _latest_run(store)
    assert fitted.info.run_id != refused.info.run_id
    assert fitted.data.metrics["labels_verdicts"] == n_verdicts
    assert fitted.data.metrics["stacker_fitted"] == 1
    assert fitted.data.params["stacker"].startswith("stacker fitted on")
    version = fitted.data.tags["model_version"]
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    scorer = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}").unwrap_python_model().scorer
    assert scorer.week == reviewed.week
    # a few verdicts cannot certify an operating point: cold thresholds, and the stacker does not decide
    assert fitted.data.metrics["operating_learned"] == 0
    assert "cold thresholds kept" in fitted.data.params["operating_note"]
    assert scorer.fitted.stacker is None and scorer.params.policy == PolicyParams()


@pytest.mark.e2e
def test_train_counts_the_console_verdicts_per_sampling_kind(sampled: Reviewed, tmp_path: Path) -> None:
    """Uncertain and audit verdicts of the console reach `cpeguard train` with the probability they
    were queued with (the weights' inverse: tests/review/test_active_learning.py), counted apart
    (``labels_sample_<kind>``)."""
    labels = sampled.labels
    kinds = labels.groupby("sample")["sampled_with_probability"].agg(["min", "max", "size"])
    assert set(kinds.index) == {"flagged", "uncertain", "audit"}, kinds
    assert kinds.loc["uncertain", "min"] == kinds.loc["uncertain", "max"] == 0.9
    assert kinds.loc["audit", "min"] == kinds.loc["audit", "max"] == 0.5
    store = store_uri(tmp_path / "mlruns")
    _train(sampled, store, min_labels=5)
    metrics = _latest_run(store).data.metrics
    counted = {k: metrics.get(f"labels_sample_{k}", 0.0) for k in kinds.index}
    for kind, row in kinds.iterrows():  # each account's latest verdict in the week, per kind
        assert 1 <= counted[kind] <= row["size"], (kind, counted)
    assert sum(counted.values()) == metrics["stacker_labelled_accounts"]
