"""Seller groups linked across settlements: the same farm found in two campaigns is one seller group;
its case page lists both campaigns, periods, posts and money, one decision labels every member in
both (with exceptions), and an account page lists every case about the account. A creator case lists
the creator's other settlements and posts with their money and links. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from serving.io import event_rows
from serving.labels import load_labels
from serving.review.cases import QueueFilter
from serving.review.groups import GroupIndex, is_same_group, overlap
from serving.review.service import ReviewServices, build_review
from serving.statuses import CaseKind, CaseStatus
from tests.review.conftest import (
    CLOSED_CAMPAIGN,
    FARM_ACCOUNTS,
    OPEN_CAMPAIGN,
    PERIOD,
    REVIEW_PARAMS,
    Settled,
    bearer_secret,
    farm_with_a_flagged_fan,
    review_events,
    sign_in,
)
from tests.serving.conftest import campaign_terms, make_api
from training.simulator import SimulatedSet


def _farm_again(sim: SimulatedSet) -> pd.DataFrame:
    """The open campaign's farm found again in the closed campaign: same accounts, other posts."""
    closed = sim.events[sim.events["campaign_id"] == CLOSED_CAMPAIGN]
    farm = farm_with_a_flagged_fan(closed)
    farm["event_id"] = farm["event_id"].str.replace("review-farm-", "review-farm2-")
    farm["post_id"] = farm["post_id"].str.replace("p_farm_", "p_farm2_")
    return farm


@pytest.fixture
def twice(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[Settled]:
    """Two settled campaigns, the farm in both; every account case queued."""
    now = datetime.now(UTC)
    windows = {
        OPEN_CAMPAIGN: (now - timedelta(days=10), now + timedelta(days=3)),
        CLOSED_CAMPAIGN: (now - timedelta(days=20), now + timedelta(days=2)),
    }
    events = pd.concat([review_events(sim), _farm_again(sim)], ignore_index=True)
    for api in make_api(
        tmp_path / "home",
        database_url,
        params=REVIEW_PARAMS,
        signoff_withheld_share=0.5,
        review_auto_decide_below=0.0,
    ):
        settled = {}
        for campaign, (start, end) in windows.items():
            terms = {
                **campaign_terms(sim.campaigns, campaign),
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
            assert (
                api.client.put(f"/v1/campaigns/{campaign}", json=terms, headers=api.billing).status_code
                == 200
            )
            mine = events[events["campaign_id"] == campaign]
            posted = api.client.post("/v1/events", json={"events": event_rows(mine)}, headers=api.billing)
            assert posted.status_code == 200, posted.text
            answer = api.client.post(
                "/v1/settlements",
                json={"campaign_id": campaign, **PERIOD},
                headers={**api.billing, "Idempotency-Key": f"settle-{campaign}"},
            )
            assert answer.status_code == 201, answer.text
            settled[campaign] = answer.json()
        yield Settled(api=api, settlements=settled)


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _farm_cases(console: ReviewServices) -> list[Any]:
    rows = console.cases.queue_page(
        QueueFilter(kind=CaseKind.GROUP), now=datetime.now(UTC), per_page=10_000
    ).rows
    return [r for r in rows if set(FARM_ACCOUNTS) <= set(console.decisions.group_of(r).members)]


def test_the_overlap_rule() -> None:
    assert overlap({"a", "b", "c"}, {"b", "c", "d", "e"}) == 2 / 3
    assert is_same_group({"a", "b", "c"}, {"b", "c", "d", "e"}, threshold=0.5)
    assert not is_same_group({"a", "b"}, {"b", "x"}, threshold=0.5)  # one shared member is too few
    assert not is_same_group({"a", "b", "c", "d", "e"}, {"d", "e", "x", "y", "z"}, threshold=0.5)
    index = GroupIndex.of([("c1", "sg_1", "a;b;c"), ("c2", "sg_2", "x;y;z")])
    assert index.find({"b", "c", "q"}, threshold=0.5) == "sg_1"
    assert index.find({"q", "r"}, threshold=0.5) is None


def test_a_farm_found_in_two_campaigns_is_one_seller_group(twice: Settled) -> None:
    console = _console(twice)
    farms = _farm_cases(console)
    assert {f.campaign_id for f in farms} == {OPEN_CAMPAIGN, CLOSED_CAMPAIGN}
    groups = {console.cases.stored_cases.group_of_case(f.case_id) for f in farms}
    assert len(groups) == 1 and None not in groups
    group_id = str(next(iter(groups)))
    client = twice.api.client
    sign_in(client, bearer_secret(twice.api.reviewer))
    first = next(f for f in farms if f.campaign_id == OPEN_CAMPAIGN)
    other = next(f for f in farms if f.campaign_id == CLOSED_CAMPAIGN)
    page = client.get(f"/review/cases/{first.case_id}").text
    assert 'id="across-cases"' in page and f'data-case-id="{other.case_id}"' in page
    for campaign in (OPEN_CAMPAIGN, CLOSED_CAMPAIGN):
        assert campaign in page
    assert "p_farm2_first" in page and "p_farm_first" in page  # every post of both
    across = page.split('id="across-members"', 1)[1].split("</table>", 1)[0]
    for account in FARM_ACCOUNTS:  # each member once across both settlements, in both group cases
        assert across.count(f'<tr data-account-id="{account}">') == 1
        row = across.split(f'<tr data-account-id="{account}">', 1)[1].split("</tr>", 1)[0]
        n = sum(account in m.split(";") for _, m in console.cases.stored_cases.group_cases(group_id))
        assert n >= 2 and f'<td class="num">{n}</td>' in row
    # an account page lists every case about it: both group cases and its account cases
    account_case = next(
        r
        for r in console.cases.queue_page(
            QueueFilter(kind=CaseKind.ACCOUNT),
            now=datetime.now(UTC),
            per_page=10_000,
        ).rows
        if r.account_id == FARM_ACCOUNTS[1]
    )
    account_page = client.get(f"/review/cases/{account_case.case_id}").text
    assert first.case_id in account_page and other.case_id in account_page


def test_one_decision_labels_every_member_across_settlements(twice: Settled) -> None:
    console = _console(twice)
    farms = _farm_cases(console)
    first = next(f for f in farms if f.campaign_id == OPEN_CAMPAIGN)
    client = twice.api.client
    csrf = sign_in(client, bearer_secret(twice.api.reviewer))
    assert client.get(f"/review/cases/{first.case_id}").status_code == 200
    excepted = FARM_ACCOUNTS[0]
    answer = client.post(
        f"/review/cases/{first.case_id}/decide",
        data={"action": "confirm_fraud", "note": "one farm", "csrf_token": csrf, "except_member": [excepted]},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    now = datetime.now(UTC)
    assert all(console.cases.get(f.case_id, now=now).status == CaseStatus.DECIDED for f in farms)
    labels = load_labels(console.cases.stored_cases)
    for f in farms:
        mine = labels.loc[labels["settlement_id"] == f.settlement_id]
        members = console.decisions.group_of(f).members
        got = mine.loc[mine["account_id"].isin(members)].set_index("account_id")["label"].to_dict()
        assert got == {m: 0 if m == excepted else 1 for m in members}


def test_a_creator_case_lists_its_other_settlements_and_posts_with_money(twice: Settled) -> None:
    console = _console(twice)
    creators = console.cases.queue_page(
        QueueFilter(kind=CaseKind.CREATOR), now=datetime.now(UTC), per_page=10_000
    ).rows
    farm_creator = [c for c in creators if c.creator_id == "c_farm"]
    assert {c.campaign_id for c in farm_creator} == {OPEN_CAMPAIGN, CLOSED_CAMPAIGN}
    here, there = sorted(farm_creator, key=lambda c: c.campaign_id != OPEN_CAMPAIGN)
    client = twice.api.client
    sign_in(client, bearer_secret(twice.api.reviewer))
    page = client.get(f"/review/cases/{here.case_id}").text
    assert 'id="creator-settlements"' in page
    assert f'href="/review/cases/{there.case_id}"' in page  # its creator case there, linked
    line = next(p for p in twice.settlements[CLOSED_CAMPAIGN]["posts"] if p["post_id"] == "p_farm2_second")
    row = page.split('<tr data-post-id="p_farm2_second">', 1)[1].split("</tr>", 1)[0]
    assert f"{float(line['held_amount']):.2f}" in row and f"{float(line['claimed_amount']):.2f}" in row
