"""Creator and seller-group cases, policy-decided account cases, and the release of withheld money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from serving.labels import load_labels
from serving.review.opening import is_sampled
from serving.review.rows import CaseRow
from serving.review.service import ReviewServices, build_review
from serving.review.subjects import GROUP_REASONS
from serving.schemas import AdjustmentIn
from serving.statuses import AdjustmentKind, CaseKind, CaseStatus, ReviewAction
from tests.review.conftest import (
    FARM_ACCOUNTS,
    FARM_POSTS,
    FLAGGED_FAN,
    OPEN_CAMPAIGN,
    Settled,
    bearer_secret,
    principal,
    sign_in,
)


def _console(settled: Settled) -> ReviewServices:
    console = build_review(settled.api.client.app.state.services)  # type: ignore[attr-defined]
    console.cases.sync()
    return console


def _cases(console: ReviewServices, kind: CaseKind) -> list[CaseRow]:
    with console.cases.stored_cases.session() as session:
        from sqlalchemy import select

        from serving.db.models import ReviewCase

        ids = list(session.scalars(select(ReviewCase.id).where(ReviewCase.kind == kind)))
    return [console.cases.get(i, now=datetime.now(UTC)) for i in ids]


def _kept_by_creator(settlement: dict[str, Any]) -> dict[str, Decimal]:
    """Withheld plus held per creator of a settlement's answer, summed here from its lines."""
    out: dict[str, Decimal] = {}
    for post in settlement["posts"]:
        kept = Decimal(post["withheld_amount"]) + Decimal(post["held_amount"])
        out[post["creator_id"]] = out.get(post["creator_id"], Decimal("0.00")) + kept
    return {c: v for c, v in out.items() if v > 0}


def test_one_creator_case_per_creator_with_money_kept(settled: Settled) -> None:
    console = _console(settled)
    creators = _cases(console, CaseKind.CREATOR)
    expected = {
        (s["settlement_id"], c): v
        for s in settled.settlements.values()
        for c, v in _kept_by_creator(s).items()
    }
    assert {(c.settlement_id, c.creator_id): c.held for c in creators} == expected
    assert all(c.status == CaseStatus.OPEN for c in creators)


def test_the_farm_is_one_group_case_with_every_member(settled: Settled) -> None:
    console = _console(settled)
    groups = _cases(console, CaseKind.GROUP)
    assert groups and all(g.reasons[0] in GROUP_REASONS for g in groups)
    farm = [g for g in groups if g.campaign_id == OPEN_CAMPAIGN and g.reasons == ["ip_farm"]]
    members = [set(console.decisions.group_of(g).members) for g in farm]
    assert set(FARM_ACCOUNTS) <= set().union(*members)
    farm_group = next(g for g, m in zip(farm, members, strict=True) if set(FARM_ACCOUNTS) <= m)
    assert set(console.decisions.group_of(farm_group).posts) >= set(FARM_POSTS[:1])
    # the group links its members' account cases, and a member's account case links the group
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    page = client.get(f"/review/cases/{farm_group.case_id}").text
    member = next(c for c in _cases(console, CaseKind.ACCOUNT) if c.account_id == FARM_ACCOUNTS[1])
    assert f'href="/review/cases/{member.case_id}"' in page
    assert f'href="/review/cases/{farm_group.case_id}"' in client.get(f"/review/cases/{member.case_id}").text


def test_policy_decides_account_cases_whose_clear_releases_nothing(settled_by_policy: Settled) -> None:
    console = _console(settled_by_policy)
    accounts = _cases(console, CaseKind.ACCOUNT)
    decided = [c for c in accounts if c.status == CaseStatus.DECIDED]
    assert decided, "the farm's accounts have nothing to release: policy decides them"
    fan = next(c for c in accounts if c.account_id == FLAGGED_FAN)
    assert fan.status == CaseStatus.OPEN and not fan.is_sample
    for case in accounts:
        decision = console.cases.stored_cases.decision_of(case.case_id)
        if console.decisions.account_plan(case).releases:  # its clear releases money: a reviewer's case
            assert case.status == CaseStatus.OPEN and not case.is_sample
        elif case.held >= Decimal("5.00"):
            assert case.status == CaseStatus.OPEN
        elif case.is_sample:  # queued in its stratum's sample (audit, or uncertain near the cut)
            kind, share = console.cases.policy.stratum(uncertain=case.sample == "uncertain")
            assert case.status == CaseStatus.OPEN and case.sample == kind
            assert case.sampled_with_probability == share
            assert is_sampled(case.settlement_id, str(case.account_id), share=share)
        else:  # drawn in neither stratum: both shares (0.02 audit, 0.10 uncertain) are at least 0.02
            assert not is_sampled(case.settlement_id, str(case.account_id), share=0.02)
            assert case.status == CaseStatus.DECIDED
            assert decision is not None and decision.action == ReviewAction.POLICY_DEFAULT
            assert decision.released == 0 and decision.actor == "policy"
    assert load_labels(console.cases.stored_cases).empty  # policy gives no label
    audit = settled_by_policy.api.client.get(
        "/v1/audit",
        params={"target": decided[0].settlement_id, "limit": 1000},
        headers=settled_by_policy.api.admin,
    ).json()
    assert any(e["action"] == "review.policy_default" for e in audit)


def _decide(settled: Settled, case: CaseRow, action: str, **form: Any) -> Any:
    client = settled.api.client
    csrf = sign_in(client, bearer_secret(settled.api.reviewer))
    assert client.get(f"/review/cases/{case.case_id}").status_code == 200
    return client.post(
        f"/review/cases/{case.case_id}/decide",
        data={"action": action, "note": "checked with the brand", "csrf_token": csrf, **form},
        follow_redirects=False,
    )


def test_clearing_a_creator_case_pays_its_withheld_and_held_money(settled: Settled) -> None:
    console = _console(settled)
    case = max(
        (c for c in _cases(console, CaseKind.CREATOR) if c.campaign_id == OPEN_CAMPAIGN), key=lambda c: c.held
    )
    settlement = next(s for s in settled.settlements.values() if s["settlement_id"] == case.settlement_id)
    lines = [p for p in settlement["posts"] if p["creator_id"] == case.creator_id]
    page = settled.api.client.get(f"/review/cases/{case.case_id}")
    assert page.status_code in (200, 303)
    answer = _decide(settled, case, "clear")
    assert answer.status_code == 303, answer.text
    adjustments = settled.api.client.get(
        f"/v1/settlements/{case.settlement_id}/adjustments", headers=settled.api.reviewer
    ).json()
    paid: dict[tuple[str, str], Decimal] = {}
    for a in adjustments:
        paid[(a["post_id"], a["kind"])] = paid.get((a["post_id"], a["kind"]), Decimal(0)) + Decimal(
            a["amount"]
        )
    for line in lines:
        assert paid.get((line["post_id"], "release"), Decimal(0)) == Decimal(line["held_amount"])
        assert paid.get((line["post_id"], "release_withheld"), Decimal(0)) == Decimal(line["withheld_amount"])
    after = console.cases.get(case.case_id, now=datetime.now(UTC))
    assert after.status == CaseStatus.DECIDED and after.released == case.held and after.at_stake == 0
    audit = settled.api.client.get(
        "/v1/audit", params={"target": case.settlement_id, "limit": 1000}, headers=settled.api.admin
    ).json()
    assert any(e["action"] == "adjustment.release_withheld" for e in audit)


def test_a_withheld_release_is_capped_by_what_the_post_withheld(settled: Settled) -> None:
    settlement = settled.settlements[OPEN_CAMPAIGN]
    line = max(settlement["posts"], key=lambda p: Decimal(p["withheld_amount"]))
    withheld = Decimal(line["withheld_amount"])
    assert withheld > 0
    url = f"/v1/settlements/{settlement['settlement_id']}/adjustments"

    def release(amount: Decimal, key: str) -> Any:
        body = {"post_id": line["post_id"], "kind": "release_withheld", "amount": str(amount), "reason": "x"}
        return settled.api.client.post(
            url, json=body, headers={**settled.api.reviewer, "Idempotency-Key": key}
        )

    assert release(withheld + Decimal("0.01"), "over").status_code == 422
    assert release(withheld, "all").status_code == 201
    assert release(Decimal("0.01"), "more").status_code == 422
    # what was withheld and is now paid can be clawed back
    clawback = {"post_id": line["post_id"], "kind": "clawback", "amount": str(withheld), "reason": "y"}
    room = Decimal(line["payable"]) + withheld
    clawback["amount"] = str(room)
    answer = settled.api.client.post(
        url, json=clawback, headers={**settled.api.reviewer, "Idempotency-Key": "c"}
    )
    assert answer.status_code == 201, answer.text
    assert AdjustmentIn(post_id="p", kind=AdjustmentKind.RELEASE_WITHHELD, amount=Decimal(1), reason="r")


def test_confirming_a_group_labels_every_member_but_the_exceptions(settled: Settled) -> None:
    console = _console(settled)
    farm = next(
        g
        for g in _cases(console, CaseKind.GROUP)
        if set(FARM_ACCOUNTS) <= set(console.decisions.group_of(g).members)
    )
    members = console.decisions.group_of(farm).members
    excepted = FARM_ACCOUNTS[0]
    answer = _decide(settled, farm, "confirm_fraud", except_member=[excepted])
    assert answer.status_code == 303, answer.text
    labels = load_labels(console.cases.stored_cases)
    mine = labels.loc[labels["settlement_id"] == farm.settlement_id].set_index("account_id")["label"]
    assert mine.to_dict() == {m: 0 if m == excepted else 1 for m in members}
    # a queued case reached a reviewer surely: weight 1 in training (training/labels.py)
    assert set(labels["sample"]) == {"flagged"} and (labels["sampled_with_probability"] == 1.0).all()
    decision = console.cases.stored_cases.decision_of(farm.case_id)
    assert decision is not None and decision.released > 0  # the excepted member's money is paid
    assert excepted in decision.note
    reviewer = principal(settled.api.client, "reviewer")
    assert decision.actor == reviewer.key_id


def test_exceptions_are_refused_outside_a_group_confirm(settled: Settled) -> None:
    console = _console(settled)
    case = _cases(console, CaseKind.CREATOR)[0]
    answer = _decide(settled, case, "clear", except_member=["u_nobody"])
    assert answer.status_code == 422
    assert "except" in answer.text
    assert console.cases.get(case.case_id, now=datetime.now(UTC)).status == CaseStatus.OPEN


def test_the_evidence_pack_says_what_was_kept_and_hides_other_persons(settled: Settled) -> None:
    import io

    from pypdf import PdfReader

    from serving.review.pack import hashed

    console = _console(settled)
    client = settled.api.client
    sign_in(client, bearer_secret(settled.api.reviewer))
    farm = next(
        g
        for g in _cases(console, CaseKind.GROUP)
        if set(FARM_ACCOUNTS) <= set(console.decisions.group_of(g).members)
    )
    creator = max(_cases(console, CaseKind.CREATOR), key=lambda c: c.held)
    settlement = next(s for s in settled.settlements.values() if s["settlement_id"] == creator.settlement_id)
    withheld = sum(
        Decimal(p["withheld_amount"]) for p in settlement["posts"] if p["creator_id"] == creator.creator_id
    )
    pdf = client.get(f"/review/cases/{creator.case_id}/pack.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert creator.settlement_id in text and f"Withheld {withheld}" in text
    csv = client.get(f"/review/cases/{farm.case_id}/pack.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "event_id,ts,post_id,account,action,risk,invalid,reason"
    farm_pdf = client.get(f"/review/cases/{farm.case_id}/pack.pdf").content
    farm_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(farm_pdf)).pages)
    for account in FARM_ACCOUNTS:  # other persons appear hashed only
        assert account not in csv.text and account not in farm_text
        assert hashed(farm.settlement_id, account) in csv.text
    assert client.get(f"/review/cases/{farm.case_id}/pack.docx").status_code == 404


def test_a_sample_cases_labels_carry_its_sampling_probability(settled_by_policy: Settled) -> None:
    """Verdicts on label-quality samples are the unbiased negatives: training weighs them 1 / share."""
    from sqlalchemy import update

    from serving.db.models import ReviewCase

    console = _console(settled_by_policy)
    case = next(c for c in _cases(console, CaseKind.ACCOUNT) if c.status == CaseStatus.OPEN)
    with console.cases.stored_cases.session() as session:  # commits on leaving
        session.execute(update(ReviewCase).where(ReviewCase.id == case.case_id).values(is_sample=True))
    assert _decide(settled_by_policy, case, "clear").status_code == 303
    labels = load_labels(console.cases.stored_cases, sample_share=0.02)
    mine = labels.loc[labels["account_id"] == str(case.account_id)]
    assert len(mine) and set(mine["sample"]) == {"audit"}
    assert (mine["sampled_with_probability"] == 0.02).all() and (mine["label"] == 0).all()
