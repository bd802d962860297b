"""The review console's case pages under /review: a case, its evidence pack, claim, decide, give back,
take over, reopen; next case and throughput; and an HTML page for any other /review address.

Registered after ``serving.review.routes`` (its catch-all last), on the same router.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.corrections import SignoffOut
from serving.db.database import as_utc, utcnow
from serving.errors import Conflict, Invalid, ServiceError
from serving.review import view_routes  # noqa: F401  (saved views: registered before the catch-all)
from serving.review.account_view import account_evidence
from serving.review.cases import KINDS, QueueFilter
from serving.review.outcomes import ACTIONS
from serving.review.pack import case_pack, pack_csv, pack_pdf
from serving.review.routes import (
    ACCOUNT_ACTION_LABELS,
    ACCOUNT_ACTIONS,
    SUBJECT_ACTION_LABELS,
    ReviewDep,
    _act,
    _form_user,
    _page,
    _refuse,
    _to_sign_in,
    _user,
    router,
)
from serving.review.rows import CaseRow
from serving.review.service import ReviewServices
from serving.review.sessions import ReviewUser
from serving.review.subject_view import subject_evidence
from serving.review.view import case_evidence
from serving.statuses import CaseKind, CaseStatus


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, review: ReviewDep) -> Response:
    """A case and its evidence; viewing it locks nothing (claim it to tell others you work on it)."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in(request)
    return _case(request, review, user, case_id)


def _case(
    request: Request,
    review: ReviewServices,
    user: ReviewUser,
    case_id: str,
    *,
    refused: ServiceError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    """The case page; after a refused action, with why and what was typed (``form``) kept."""
    now = utcnow()
    try:
        review.decisions.recover_stuck(now=now, by=user.principal, case_ids=[case_id])
        case = review.cases.get(case_id, now=now)
    except ServiceError as error:
        return _refuse(request, user, error.detail, error.status_code)
    signoff: SignoffOut | None = None
    if case.signed_off_at is not None:
        signoff = review.corrections.signoff_of(case.settlement_id)
    context = {
        "user": user,
        "case": case,
        "is_mine": case.status == CaseStatus.OPEN and not case.is_locked_by_other(user.principal.key_id, now),
        "is_claimed": case.assignee == user.principal.key_id
        and case.locked_until is not None
        and case.locked_until > now,
        "signoff": signoff,
        "now": now,
        "refused": refused.detail if refused else "",
        "form": form or {},
        "decider": review.decisions.decider_name(case.case_id),
        "signoff_by": review.decisions.name_of(signoff.actor) if signoff else "",
        "reopened_as": review.cases.stored_cases.reopened_as(case.case_id),
        "dispute": _dispute(review, case),
        "reopen_effects": review.cases.reopen_effects(case.case_id, now=now)
        if case.status == CaseStatus.DECIDED and user.principal.role.value == "admin"
        else [],
    }
    status_code = refused.status_code if refused else 200
    if case.kind == CaseKind.ACCOUNT:
        account = account_evidence(case, decisions=review.decisions, store=review.store)
        extra = {"evidence": account, "actions": ACCOUNT_ACTIONS, "action_labels": ACCOUNT_ACTION_LABELS}
        return _page(request, "account_case.html", {**context, **extra}, status_code=status_code)
    if case.kind in (CaseKind.CREATOR, CaseKind.GROUP):
        subject = subject_evidence(case, decisions=review.decisions)
        extra = {"evidence": subject, "actions": ACCOUNT_ACTIONS, "action_labels": SUBJECT_ACTION_LABELS}
        return _page(request, "subject_case.html", {**context, **extra}, status_code=status_code)
    evidence = case_evidence(case, decisions=review.decisions, store=review.store)
    extra = {"evidence": evidence, "actions": ACTIONS}
    return _page(request, "case.html", {**context, **extra}, status_code=status_code)


def _dispute(review: ReviewServices, case: CaseRow) -> dict[str, Any] | None:
    """The brand's dispute of a creator case, for its page (None for any other case)."""
    if case.kind != CaseKind.CREATOR:
        return None
    found = review.disputes.of_case(case.settlement_id, case.creator_id)
    if found is None:
        return None
    return {
        "actor_name": review.decisions.name_of(found.actor),
        "created_at": as_utc(found.created_at),
        "post_id": found.post_id,
        "reason": found.reason,
    }


@router.get("/cases/{case_id}/pack.{fmt}")
def evidence_pack(request: Request, case_id: str, fmt: str, review: ReviewDep) -> Response:
    """The case's evidence pack to send a disputing creator: ``pdf`` or ``csv`` (other persons hashed)."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in(request)
    if fmt not in ("pdf", "csv"):
        return _refuse(request, user, f"no evidence pack as {fmt!r}: pdf or csv", 404)
    try:
        pack = case_pack(review.cases.get(case_id, now=utcnow()), decisions=review.decisions)
    except ServiceError as error:
        return _refuse(request, user, error.detail, error.status_code)
    body, media = (pack_pdf(pack), "application/pdf") if fmt == "pdf" else (pack_csv(pack), "text/csv")
    name = f"evidence-{case_id}.{fmt}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/cases/{case_id}/claim")
def claim(
    request: Request, case_id: str, review: ReviewDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Claim an open case: others see you hold it until the claim expires (``LOCK_TTL``)."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    now = utcnow()
    if not review.cases.acquire(case_id, user=user.principal, now=now):
        case = review.cases.get(case_id, now=now)
        why = (
            f"held by {case.assignee_name or case.assignee}"
            if case.status == CaseStatus.OPEN
            else case.status
        )
        return _case(
            request, review, user, case_id, refused=Conflict(f"case {case_id} cannot be claimed: {why}")
        )
    return RedirectResponse(f"/review/cases/{quote(case_id, safe='')}", status_code=303)


@router.get("/next")
def next_case(request: Request, review: ReviewDep, kind: str = "", campaign: str = "") -> Response:
    """The first open case in review order that nobody else holds (the queue when none is left)."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in(request)
    selection = QueueFilter(kind=kind if kind in KINDS else None, campaign_id=campaign or None)
    found = review.cases.next_case(selection, user=user.principal, now=utcnow())
    target = f"/review/cases/{quote(found, safe='')}" if found else "/review/queue"
    return RedirectResponse(target, status_code=303)


@router.get("/stats")
def stats_page(request: Request, review: ReviewDep) -> Response:
    """Cases and money decided per reviewer per day (the last two weeks)."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in(request)
    rows = review.cases.throughput(now=utcnow())
    return _page(request, "stats.html", {"user": user, "rows": rows})


@router.post("/cases/{case_id}/decide")
def decide(
    request: Request,
    case_id: str,
    review: ReviewDep,
    action: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    except_member: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record a decision on a case; the money moves through the settlement's corrections.

    ``except_member``: members of a group case labelled clean (and paid) when confirming it.
    A refusal shows the case again with why, the note and choices kept.
    """
    user = _form_user(request, review, csrf_token, back=f"/review/cases/{quote(case_id, safe='')}")
    if not isinstance(user, ReviewUser):
        return user
    typed = {"action": action, "note": note, "amount": amount, "except_member": except_member or []}
    try:
        value = Decimal(amount) if amount.strip() else None
        review.decisions.decide(
            case_id,
            action=action,
            note=note,
            amount=value,
            excepted=except_member,
            user=user.principal,
            now=utcnow(),
        )
    except InvalidOperation:
        return _case(
            request, review, user, case_id, refused=Invalid(f"amount: {amount!r} is not a number"), form=typed
        )
    except ServiceError as error:
        return _case(request, review, user, case_id, refused=error, form=typed)
    return RedirectResponse(f"/review/cases/{quote(case_id, safe='')}?decided=1", status_code=303)


@router.post("/cases/{case_id}/release")
def release(
    request: Request, case_id: str, review: ReviewDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Hand a case you hold back to the queue."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    return _act(
        request, user, lambda: review.cases.release(case_id, user=user.principal), then="/review/queue"
    )


@router.post("/cases/{case_id}/take-over")
def take_over(
    request: Request,
    case_id: str,
    review: ReviewDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """An admin takes a case another reviewer holds (a note is required; audited); reviewers get a 403."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    return _act(
        request,
        user,
        lambda: review.cases.take_over(case_id, user=user.principal, note=note, now=utcnow()),
        then=f"/review/cases/{quote(case_id, safe='')}",
    )


@router.post("/cases/{case_id}/reopen")
def reopen_decision(
    request: Request,
    case_id: str,
    review: ReviewDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """An admin reopens a decided case (a note is required; audited; its labels superseded)."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    try:
        fresh = review.cases.reopen_decision(case_id, user=user.principal, note=note, now=utcnow())
    except ServiceError as error:
        return _case(request, review, user, case_id, refused=error, form={"reopen_note": note})
    return RedirectResponse(f"/review/cases/{quote(fresh, safe='')}", status_code=303)


@router.api_route("/{rest:path}", methods=["GET", "POST"])
def not_found(request: Request, review: ReviewDep, rest: str) -> HTMLResponse:
    """Any other /review address: an HTML page saying so (not the API's JSON)."""
    return _refuse(request, _user(request, review), f"there is no page /review/{rest}", 404)
