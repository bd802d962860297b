"""The review console's pages under /review: sign-in, queue, case, actions (HTML, CSRF-protected forms)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from serving.corrections import SignoffIn, SignoffOut
from serving.db.database import utcnow
from serving.errors import ServiceError
from serving.review.account_view import account_evidence
from serving.review.cases import KINDS, QueueFilter, checked_note
from serving.review.outcomes import ACTIONS
from serving.review.rows import CaseRow
from serving.review.service import ReviewServices, get_review
from serving.review.sessions import (
    COOKIE_NAME,
    REVIEW_ROLES,
    SESSION_TTL,
    SIGNIN_CSRF_COOKIE,
    ReviewUser,
    SignInRefused,
    is_valid_csrf,
    new_csrf_token,
)
from serving.review.view import case_evidence
from serving.statuses import CaseKind, ReviewAction

_HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
router = APIRouter(prefix="/review", include_in_schema=False)
ReviewDep = Annotated[ReviewServices, Depends(get_review)]
ACTION_LABELS = {
    ReviewAction.CONFIRM_FRAUD: "Confirm fraud (keep withholding)",
    ReviewAction.CLEAR: "Clear (release the held money)",
    ReviewAction.PARTIAL_RELEASE: "Partial release",
}
ACCOUNT_ACTIONS = (ReviewAction.CONFIRM_FRAUD, ReviewAction.CLEAR)
ACCOUNT_ACTION_LABELS = {
    ReviewAction.CONFIRM_FRAUD: "Confirm fraud (label 1; keep withholding)",
    ReviewAction.CLEAR: "Clear (label 0; release the held money of this account's engagements on held posts)",
}


def _page(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"action_labels": ACTION_LABELS, **context}, status_code=status_code
    )


def _user(request: Request, review: ReviewServices) -> ReviewUser | None:
    return review.sessions.resolve(request.cookies.get(COOKIE_NAME))


def _to_sign_in() -> RedirectResponse:
    return RedirectResponse("/review/sign-in", status_code=303)


def _refuse(request: Request, user: ReviewUser | None, message: str, status_code: int) -> HTMLResponse:
    return _page(request, "error.html", {"user": user, "message": message}, status_code=status_code)


def _act(request: Request, user: ReviewUser, act: Callable[[], object], *, then: str) -> Response:
    """Do a form's action, then go to ``then``; a service refusal is shown as an error page."""
    try:
        act()
    except ServiceError as error:
        return _refuse(request, user, error.detail, error.status_code)
    return RedirectResponse(then, status_code=303)


def _form_user(request: Request, review: ReviewServices, csrf_token: str) -> ReviewUser | Response:
    """The signed-in user of a form post, or the answer to give instead (sign-in, or 403 on CSRF)."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in()
    if not is_valid_csrf(user.csrf_token, csrf_token):
        return _refuse(request, user, "missing or wrong CSRF token", 403)
    return user


def _is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("")
def review_home() -> RedirectResponse:
    """The console starts at the queue."""
    return RedirectResponse("/review/queue", status_code=303)


@router.get("/static/review.css")
def review_css() -> FileResponse:
    """The console's stylesheet (served by the app itself: no CDN)."""
    return FileResponse(_HERE / "static" / "review.css", media_type="text/css")


def _sign_in_form(request: Request, *, error: str = "", status_code: int = 200) -> HTMLResponse:
    """The sign-in form; its CSRF token is also set as a short-lived cookie (double submit)."""
    token = new_csrf_token()
    context = {"user": None, "csrf_token": token, "error": error}
    response = _page(request, "sign_in.html", context, status_code=status_code)
    _set_cookie(request, response, SIGNIN_CSRF_COOKIE, token, max_age=900)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_is_secure(request),
        path="/review",
    )


@router.get("/sign-in")
def sign_in_page(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return _sign_in_form(request)


@router.post("/sign-in")
def sign_in(
    request: Request,
    review: ReviewDep,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Open a session for a reviewer or admin key; billing keys are refused."""
    if not is_valid_csrf(request.cookies.get(SIGNIN_CSRF_COOKIE), csrf_token):
        return _refuse(
            request, None, "the form expired or was not sent by this site; reload and try again", 403
        )
    try:
        token, _ = review.sessions.sign_in(api_key)
    except SignInRefused as refused:
        return _sign_in_form(request, error=str(refused), status_code=403)
    signed_in = RedirectResponse("/review/queue", status_code=303)
    _set_cookie(request, signed_in, COOKIE_NAME, token, max_age=int(SESSION_TTL.total_seconds()))
    signed_in.delete_cookie(SIGNIN_CSRF_COOKIE, path="/review")
    return signed_in


@router.post("/sign-out")
def sign_out(
    request: Request, review: ReviewDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """End the session."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    review.sessions.sign_out(request.cookies.get(COOKIE_NAME, ""))
    response = _to_sign_in()
    response.delete_cookie(COOKIE_NAME, path="/review")
    return response


@router.get("/queue")
def queue_page(
    request: Request,
    review: ReviewDep,
    status: str = "open",
    kind: str = "",
    campaign: str = "",
    platform: str = "",
    reason: str = "",
    assignee: str = "",
    mine: bool = False,
) -> Response:
    """Held posts and flagged accounts in review order, with filters and bulk actions."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in()
    now = utcnow()
    review.cases.sync()
    review.decisions.recover_stuck(now=now, by=user.principal)
    selection = QueueFilter(
        status=status if status in ("open", "decided", "all") else "open",
        kind=kind if kind in KINDS else None,
        campaign_id=campaign or None,
        platform=platform or None,
        reason=reason or None,
        assignee=user.principal.key_id if mine else (assignee or None),
    )
    return _queue(request, review, user, selection, mine=mine, now=now)


def _queue(
    request: Request,
    review: ReviewServices,
    user: ReviewUser,
    selection: QueueFilter,
    *,
    mine: bool,
    now: datetime,
    outcomes: list[Any] | None = None,
) -> HTMLResponse:
    rows = review.cases.queue(selection, now=now)
    context = {
        "user": user,
        "rows": rows,
        "awaiting_signoff": awaiting_signoff(rows),
        "facets": review.cases.facets(),
        "selection": selection,
        "mine": mine,
        "now": now,
        "actions": ACTIONS,
        "kinds": KINDS,
        "outcomes": outcomes or [],
    }
    return _page(request, "queue.html", context)


def awaiting_signoff(rows: list[CaseRow]) -> list[dict[str, Any]]:
    """The settlements among ``rows`` that still need a sign-off, with their cases and held posts' money."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.awaits_signoff:
            entry = found.setdefault(
                row.settlement_id,
                {
                    "settlement_id": row.settlement_id,
                    "campaign_id": row.campaign_id,
                    "cases": 0,
                    "at_stake": 0,
                },
            )
            entry["cases"] += 1
            if row.kind == CaseKind.POST:  # an account's money on held posts is part of those posts' money
                entry["at_stake"] += row.at_stake
    return list(found.values())


@router.post("/bulk")
def bulk_action(
    request: Request,
    review: ReviewDep,
    case_id: Annotated[list[str] | None, Form()] = None,
    action: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Decide every selected case alike (a note is required); cases another reviewer holds are skipped."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    if action not in ACTIONS or not note.strip() or not case_id:
        return _refuse(request, user, "choose cases, an action and write a note", 422)
    now = utcnow()
    outcomes = review.decisions.bulk(case_id, action=action, note=note, user=user.principal, now=now)
    return _queue(request, review, user, QueueFilter(), mine=False, now=now, outcomes=outcomes)


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, review: ReviewDep) -> Response:
    """Open a case: it is assigned to and locked for you unless another reviewer holds it."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in()
    now = utcnow()
    try:
        review.decisions.recover_stuck(now=now, by=user.principal, case_ids=[case_id])
        is_mine = review.cases.acquire(case_id, user=user.principal, now=now)
        case = review.cases.get(case_id, now=now)
    except ServiceError as error:
        return _refuse(request, user, error.detail, error.status_code)
    signoff: SignoffOut | None = None
    if case.signed_off_at is not None:
        signoff = review.corrections.signoff_of(case.settlement_id)
    context = {"user": user, "case": case, "is_mine": is_mine, "signoff": signoff, "now": now}
    if case.kind == CaseKind.ACCOUNT:
        account = account_evidence(
            case,
            decisions=review.decisions,
            store=review.store,
        )
        return _page(
            request,
            "account_case.html",
            {
                **context,
                "evidence": account,
                "actions": ACCOUNT_ACTIONS,
                "action_labels": ACCOUNT_ACTION_LABELS,
            },
        )
    evidence = case_evidence(case, decisions=review.decisions, store=review.store)
    return _page(request, "case.html", {**context, "evidence": evidence, "actions": ACTIONS})


@router.post("/cases/{case_id}/decide")
def decide(
    request: Request,
    case_id: str,
    review: ReviewDep,
    action: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record a decision on a case you hold; the money moves through the settlement's corrections."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    try:
        value = Decimal(amount) if amount.strip() else None
    except InvalidOperation:
        return _refuse(request, user, f"amount: {amount!r} is not a number", 422)
    return _act(
        request,
        user,
        lambda: review.decisions.decide(
            case_id, action=action, note=note, amount=value, user=user.principal, now=utcnow()
        ),
        then=f"/review/cases/{quote(case_id, safe='')}",
    )


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


@router.post("/settlements/{settlement_id}/signoff")
def signoff(
    request: Request,
    settlement_id: str,
    review: ReviewDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    case_id: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Sign off a ``needs_signoff`` settlement through the API's service (same rule: reviewer or admin)."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    if user.principal.role not in REVIEW_ROLES:  # POST /v1/settlements/{id}/signoff: reviewer or admin
        return _refuse(request, user, f"a {user.principal.role.value} key cannot sign off", 403)
    back = f"/review/cases/{quote(case_id, safe='')}" if case_id else "/review/queue"
    return _act(
        request,
        user,
        lambda: review.corrections.signoff(
            settlement_id, SignoffIn(note=checked_note(note)), actor=user.principal
        ),
        then=back,
    )


def format_left(now: datetime, cutoff: datetime) -> str:
    """Time left before a cutoff, e.g. '2 d 4 h' or 'past cutoff'."""
    seconds = (cutoff - now).total_seconds()
    if seconds <= 0:
        return "past cutoff"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {(rest % 3600) // 60} min"


templates.env.filters["left"] = lambda cutoff, now: format_left(now, cutoff)
