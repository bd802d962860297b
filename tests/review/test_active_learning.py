"""Active learning in the review queue: policy-decided account cases near the cut, queued as an
uncertain sample with a known probability, exported as labels with it, and weighted by training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from detectors.model import WindowScorer
from detectors.policy import UNCERTAIN_MARGIN, near_cut
from features.contract import clean_events
from serving.labels import load_labels
from serving.review.account_cases import account_stakes, settlement_verdicts, uncertain_unflagged
from serving.review.opening import CasePolicy, is_sampled
from serving.review.service import ReviewServices, build_review
from serving.statuses import CaseKind, CaseSample, CaseStatus
from tests.review.conftest import (
    REVIEW_PARAMS,
    Settled,
    bearer_secret,
    case_ids,
    csrf_of,
    review_events,
    settle_two,
    sign_in,
)
from training.fitting import week_verdicts
from training.labels import SAMPLE_KINDS, clean_labels, label_weights
from training.operating import by_sample
from training.simulator import SimulatedSet

UNCERTAIN_SHARE = 0.5


@pytest.fixture
def settled_uncertain(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[Settled]:
    """Two settled campaigns; half the policy-decided cases near the cut queued, no audit sample."""
    yield from settle_two(
        tmp_path / "home",
        database_url,
        sim,
        review_sample_share=0.0,
        review_uncertain_share=UNCERTAIN_SHARE,
    )


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _policy_cases(settled: Settled, console: ReviewServices) -> pd.DataFrame:
    """Per account policy decides: settlement, account, near the cut, flagged, its case (None: none).

    Flagged: an account case policy would decide; not flagged: an engaging account near the cut.
    """
    services = settled.api.client.app.state.services  # type: ignore[attr-defined]
    rows = []
    for settlement in settled.settlements.values():
        sid = settlement["settlement_id"]
        verdicts = settlement_verdicts(
            sid,
            settlements=services.db.settlements,
            campaigns=services.db.campaigns,
            detection=services.detection,
        )
        assert verdicts is not None
        stakes = account_stakes(verdicts)
        near = near_cut(stakes["risk"].to_numpy(), verdicts.invalid_risk)
        decidable = ((stakes["releasable"] <= 0) & (stakes["at_stake"] < 5.0)).to_numpy()
        rows += [
            (sid, str(a), bool(n), True)
            for a, n in zip(stakes["account_id"][decidable], near[decidable], strict=True)
        ]
        rows += [(sid, str(a), True, False) for a in uncertain_unflagged(verdicts)["account_id"]]
    frame = pd.DataFrame(rows, columns=["settlement_id", "account_id", "near", "flagged"])
    cases = {(c.settlement_id, str(c.account_id)): c for c in _account_cases(console)}
    keys = zip(frame["settlement_id"], frame["account_id"], strict=True)
    return frame.assign(case=[cases.get(k) for k in keys])


def _account_cases(console: ReviewServices) -> list[Any]:
    from sqlalchemy import select

    from serving.db.models import ReviewCase

    with console.cases.stored_cases.session() as session:
        ids = list(session.scalars(select(ReviewCase.id).where(ReviewCase.kind == CaseKind.ACCOUNT)))
    return [console.cases.get(i, now=datetime.now(UTC)) for i in ids]


def test_the_band_is_the_simulated_review_samples_and_the_strata_do_not_overlap() -> None:
    assert near_cut([0.36, 0.5, 0.64, 0.66, 0.34], 0.5).tolist() == [True, True, True, False, False]
    assert UNCERTAIN_MARGIN == 0.15
    policy = replace(CasePolicy.default(), sample_share=0.02, uncertain_share=0.1)
    assert policy.stratum(uncertain=True) == (CaseSample.UNCERTAIN, 0.1)
    assert policy.stratum(uncertain=False) == (CaseSample.AUDIT, 0.02)
    off = replace(policy, uncertain_share=0.0)
    assert off.stratum(uncertain=True) == (CaseSample.AUDIT, 0.02)  # no uncertain sample: audited
    assert CasePolicy.default().uncertain_share == 0.10
    assert {str(k) for k in CaseSample} <= set(SAMPLE_KINDS)  # every kind the console marks, training knows


def test_cases_near_the_cut_are_queued_as_an_uncertain_sample(settled_uncertain: Settled) -> None:
    console = _console(settled_uncertain)
    cases = _policy_cases(settled_uncertain, console)
    near = cases.loc[cases["near"]]
    assert near["flagged"].sum() >= 10, "the simulated campaigns have policy-decided accounts near the cut"
    assert (~near["flagged"]).sum() >= 10, "and engaging accounts just under the cut, not flagged"
    for settlement_id, account_id, is_near, flagged, case in cases.itertuples(index=False):
        drawn = is_sampled(settlement_id, account_id, share=UNCERTAIN_SHARE)
        if is_near and drawn:
            assert case.status == CaseStatus.OPEN and case.is_sample
            assert case.sample == "uncertain" and case.sampled_with_probability == UNCERTAIN_SHARE
            assert flagged or case.held == 0  # an account not flagged has nothing kept
        elif flagged:  # not drawn, or away from the cut (no audit sample here): policy decided it
            assert case.status == CaseStatus.DECIDED and case.sample is None
        else:  # not flagged and not drawn: no case
            assert case is None
    queued = [c for c in near["case"] if c is not None and c.status == CaseStatus.OPEN]
    # each near account is drawn with probability 1/2: with >= 10 of each kind, none drawn has odds
    # below 1 in 1,000
    assert any(c.held > 0 for c in queued) and any(c.held == 0 for c in queued)
    audit = settled_uncertain.api.client.get(
        "/v1/audit",
        params={"target": queued[0].settlement_id, "limit": 1000},
        headers=settled_uncertain.api.admin,
    ).json()
    policy = next(e for e in audit if e["action"] == "review.policy_default")
    mine = [c for c in queued if c.settlement_id == queued[0].settlement_id]
    assert policy["detail"]["queued_as_uncertain"] == len(mine)
    assert policy["detail"]["uncertain_share"] == UNCERTAIN_SHARE

    client = settled_uncertain.api.client
    sign_in(client, bearer_secret(settled_uncertain.api.reviewer))
    page = client.get("/review/queue", params={"sample": "true", "kind": "account"}).text
    assert set(case_ids(page)) == {c.case_id for c in queued}
    assert page.count('data-sample="uncertain"') == len(queued)
    for case in (next(c for c in queued if c.held > 0), next(c for c in queued if c.held == 0)):
        shown = client.get(f"/review/cases/{case.case_id}")
        assert shown.status_code == 200
        assert 'id="sample-mark" data-sample="uncertain"' in shown.text
        assert f"queued with probability {UNCERTAIN_SHARE}" in shown.text
        assert ("not flagged" in shown.text) == (case.held == 0)


def _decide(settled: Settled, case_id: str, action: str) -> None:
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    page = client.get(f"/review/cases/{case_id}").text
    answer = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": action, "note": "looked near the cut", "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_uncertain_verdicts_are_exported_with_their_probability_and_weighted_by_training(
    settled_uncertain: Settled, sim: SimulatedSet
) -> None:
    console = _console(settled_uncertain)
    uncertain = [c for c in _account_cases(console) if c.sample == "uncertain"]
    queued = [next(c for c in uncertain if c.held > 0), next(c for c in uncertain if c.held == 0)]
    for case, action in zip(queued, ("confirm_fraud", "clear"), strict=True):
        _decide(settled_uncertain, case.case_id, action)
    labels = load_labels(settled_uncertain.api.config)  # through the service's config, as `cpeguard train`
    mine = labels.loc[labels["account_id"].isin([str(c.account_id) for c in queued])]
    assert mine.set_index("account_id")["label"].to_dict() == {
        str(queued[0].account_id): 1,
        str(queued[1].account_id): 0,
    }
    assert (mine["post_id"] != "").all()  # the post each engaged most
    assert set(mine["sample"]) == {"uncertain"}
    assert (mine["sampled_with_probability"] == UNCERTAIN_SHARE).all()

    # training reads them as it reads a verdicts file, and weighs each 1 / 0.5
    verdicts = clean_labels(labels, source="console")
    assert (label_weights(verdicts)[verdicts["sample"] == "uncertain"] == 1 / UNCERTAIN_SHARE).all()
    events = clean_events(review_events(sim), source="the events the service ingested").frame
    engagements = WindowScorer(params=REVIEW_PARAMS).score(events).engagements
    week = week_verdicts(engagements, verdicts, before=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1))
    assert week.loc[week["sample"] == "uncertain", "weight"].tolist() == [2.0, 2.0]
    reported = by_sample(engagements, week, policy=REVIEW_PARAMS.policy)
    assert reported["accounts.sample.uncertain"] == 2.0  # reported apart from the rest
    assert reported["fraud_share.sample.uncertain"] == 0.5
