"""Creator disputes end to end on a real server (`cpeguard serve`), SQLite and PostgreSQL.

The brand's billing key disputes a creator's money through the API; the creator's case in the
review queue is marked a dispute; a reviewer clears it in the console (the creator is paid) or
confirms another; the accounts concerned come out of ``load_labels`` as honest or fraud labels
with ``sample=dispute`` and probability 1, and training counts them apart.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from serving.config import ServiceConfig
from serving.db.engine import MIGRATIONS_DIR, make_engine
from serving.labels import load_labels
from tests.review.conftest import bearer_secret, csrf_of, sign_in
from tests.serving.conftest import campaign_terms
from tests.serving.test_faults import CAMPAIGN, Deployment, _deployment, _events, _period, serving
from training.labels import clean_labels, label_weights, sample_counts
from training.simulator import SimulatedSet


@pytest.fixture
def deployment(tmp_path: Path, database_url: str | None) -> Deployment:
    """A home and database (SQLite, PostgreSQL) with a billing and a reviewer key."""
    return _deployment(tmp_path / "home", database_url)


def _settle(client: httpx.Client, deployment: Deployment, sim: SimulatedSet) -> dict[str, Any]:
    terms = campaign_terms(sim.campaigns, CAMPAIGN)
    assert client.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=deployment.billing).status_code == 200
    from serving.io import event_rows

    posted = client.post("/v1/events", json={"events": event_rows(_events(sim))}, headers=deployment.billing)
    assert posted.status_code == 200, posted.text
    answer = client.post(
        "/v1/settlements", json=_period(sim), headers={**deployment.billing, "Idempotency-Key": "stl-dispute"}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _kept_by_creator(settlement: dict[str, Any]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for post in settlement["posts"]:
        kept = Decimal(post["withheld_amount"]) + Decimal(post["held_amount"])
        out[post["creator_id"]] = out.get(post["creator_id"], Decimal("0.00")) + kept
    return out


def _decide(client: httpx.Client, case_id: str, action: str) -> None:
    """Claim and decide a case through the console's forms, as a reviewer does."""
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 200, page.text
    claimed = client.post(
        f"/review/cases/{case_id}/claim", data={"csrf_token": csrf_of(page.text)}, follow_redirects=True
    )
    assert claimed.status_code == 200, claimed.text
    body = {"action": action, "note": "checked the dispute", "csrf_token": csrf_of(claimed.text)}
    decided = client.post(f"/review/cases/{case_id}/decide", data=body, follow_redirects=False)
    assert decided.status_code == 303, decided.text


def _creator_cases(queue: str) -> list[str]:
    """The case ids of the creator rows of a queue page."""
    return re.findall(r'data-case-id="([^"]+)" data-kind="creator"', queue)


def _refusals(client: httpx.Client, deployment: Deployment, url: str, settlement: dict[str, Any]) -> None:
    """What the dispute endpoint refuses, each with its status."""
    post = settlement["posts"][0]
    assert client.post(url, json={"post_id": post["post_id"], "reason": "x"}).status_code == 401
    as_reviewer = client.post(
        url, json={"post_id": post["post_id"], "reason": "x"}, headers=deployment.reviewer
    )
    assert as_reviewer.status_code == 403
    no_one = client.post(url, json={"reason": "x"}, headers=deployment.billing)
    assert no_one.status_code == 422 and "creator_id or post_id" in no_one.text
    assert client.post(url, json={"post_id": post["post_id"]}, headers=deployment.billing).status_code == 422
    unknown = client.post(url, json={"post_id": "p_nowhere", "reason": "x"}, headers=deployment.billing)
    assert unknown.status_code == 404 and "p_nowhere" in unknown.text
    wrong = {"post_id": post["post_id"], "creator_id": "c_someone_else", "reason": "x"}
    mismatch = client.post(url, json=wrong, headers=deployment.billing)
    assert mismatch.status_code == 404 and "c_someone_else" in mismatch.text
    nowhere = client.post(
        "/v1/settlements/stl_nope/disputes",
        json={"creator_id": "c", "reason": "x"},
        headers=deployment.billing,
    )
    assert nowhere.status_code == 404


def _file_two(
    client: httpx.Client, deployment: Deployment, url: str, settlement: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Disputes of the two creators with most money kept: one by a post, one by the creator."""
    kept = sorted(((v, c) for c, v in _kept_by_creator(settlement).items() if v > 0), reverse=True)
    assert len(kept) >= 3, "the settlement kept money of at least three creators"
    cleared, confirmed = kept[0][1], kept[1][1]
    post = next(p["post_id"] for p in settlement["posts"] if p["creator_id"] == cleared)
    filed = client.post(url, json={"post_id": post, "reason": "organic reach"}, headers=deployment.billing)
    assert filed.status_code == 201, filed.text
    first = dict(filed.json())
    assert (first["creator_id"], first["post_id"], first["status"]) == (cleared, post, "open")
    again = client.post(url, json={"creator_id": cleared, "reason": "again"}, headers=deployment.billing)
    assert again.status_code == 200 and again.json()["dispute_id"] == first["dispute_id"]
    other = client.post(url, json={"creator_id": confirmed, "reason": "also"}, headers=deployment.billing)
    assert other.status_code == 201, other.text
    audit = client.get(
        "/v1/audit", params={"target": settlement["settlement_id"]}, headers=deployment.reviewer
    ).json()
    filings = sorted(e["detail"]["creator_id"] for e in audit if e["action"] == "dispute.filed")
    assert filings == sorted([cleared, confirmed])  # once each: the repeat filed nothing
    return first, dict(other.json())


def _console_decides(
    client: httpx.Client, deployment: Deployment, url: str, cleared: dict[str, Any], confirmed: dict[str, Any]
) -> None:
    """The reviewer sees both disputes, clears one, confirms the other and a third, undisputed case."""
    sign_in(client, bearer_secret(deployment.reviewer))  # type: ignore[arg-type]
    queue = client.get("/review/queue", params={"kind": "creator"}).text
    assert queue.count('data-sample="dispute"') == 2
    page = client.get(f"/review/cases/{cleared['case_id']}").text
    assert 'id="dispute-mark"' in page and "organic reach" in page and cleared["post_id"] in page
    _decide(client, cleared["case_id"], "clear")
    _decide(client, confirmed["case_id"], "confirm_fraud")
    disputed = (cleared["case_id"], confirmed["case_id"])
    third = next(c for c in _creator_cases(queue) if c not in disputed)
    _decide(client, third, "confirm_fraud")
    creator = deployment.scalar(f"SELECT creator_id FROM review_cases WHERE id = '{third}'")
    late = client.post(url, json={"creator_id": creator, "reason": "x"}, headers=deployment.billing)
    assert late.status_code == 409 and third in late.text and "an admin can reopen it" in late.text


def _labels_of(deployment: Deployment, settlement: dict[str, Any], cleared: str) -> None:
    """The disputes' labels: honest for the creator cleared, fraud for the other, both ``dispute``."""
    labels = load_labels(ServiceConfig(home=deployment.home, database_url=deployment.database_url))
    mine = labels.loc[labels["settlement_id"] == settlement["settlement_id"]]
    disputed = mine.loc[mine["sample"] == "dispute"]
    cleared_posts = {p["post_id"] for p in settlement["posts"] if p["creator_id"] == cleared}
    honest = disputed.loc[disputed["post_id"].isin(cleared_posts)]
    assert len(honest) and (honest["label"] == 0).all()  # resolved for the creator: honest labels
    assert len(disputed) > len(honest) and (disputed.drop(honest.index)["label"] == 1).all()
    assert (disputed["sampled_with_probability"] == 1.0).all()
    undisputed = mine.drop(disputed.index)  # the third creator's case, confirmed without a dispute
    assert len(undisputed) and set(undisputed["sample"]) == {"flagged"}
    verdicts = clean_labels(labels, source="console")
    assert (label_weights(verdicts) == 1.0).all()  # self-selected: weight 1, standing for nothing more
    assert sample_counts(verdicts) == {
        "labels_sample_dispute": float(len(disputed)),
        "labels_sample_flagged": float(len(undisputed)),
    }


def test_a_dispute_resolved_for_the_creator_pays_and_labels_the_accounts_honest(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    with serving(deployment) as (client, _process):
        settlement = _settle(client, deployment, sim)
        url = f"/v1/settlements/{settlement['settlement_id']}/disputes"
        _refusals(client, deployment, url, settlement)
        cleared, confirmed = _file_two(client, deployment, url, settlement)
        _console_decides(client, deployment, url, cleared, confirmed)
        again = client.post(
            url, json={"creator_id": cleared["creator_id"], "reason": "late"}, headers=deployment.billing
        )
        assert again.status_code == 200 and again.json()["status"] == "decided"  # the one filed, decided
        listed = {d["creator_id"]: d for d in client.get(url, headers=deployment.billing).json()}
        kept = _kept_by_creator(settlement)
        mine = listed[cleared["creator_id"]]
        assert mine["outcome"] == "clear" and Decimal(mine["released"]) == kept[cleared["creator_id"]]
        other = listed[confirmed["creator_id"]]
        assert other["outcome"] == "confirm_fraud" and Decimal(other["released"]) == 0
    _labels_of(deployment, settlement, cleared["creator_id"])


def test_the_case_sampling_migration_applies_and_downgrades(tmp_path: Path, database_url: str | None) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'migrate.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    def columns(connection: Any) -> set[str]:
        return {c["name"] for c in inspect(connection).get_columns("review_cases")}

    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            assert "review_disputes" in inspect(connection).get_table_names()
            assert {"sample", "sampled_with_probability"} <= columns(connection)
            command.downgrade(config, "0010")
            assert "review_disputes" not in inspect(connection).get_table_names()
            assert not {"sample", "sampled_with_probability"} & columns(connection)
            command.upgrade(config, "head")
            assert "review_disputes" in inspect(connection).get_table_names()
            assert {"sample", "sampled_with_probability"} <= columns(connection)
    finally:
        engine.dispose()
