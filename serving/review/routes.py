"""The review console's pages under /review: sign-in, queue, case, actions (HTML, CSRF-protected forms)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from serving.corrections import SignoffIn
from serving.db.cases import SORTS
from serving.db.database import utcnow
from serving.errors import ServiceError
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
# the queue's columns: (sort name or "", heading)
QUEUE_COLUMNS = (
    ("kind", "Kind"),
    ("subject", "Post, account, creator or group"),
    ("campaign", "Campaign"),
    ("platform", "Platform"),
    ("reasons", "Reasons"),
    ("money", "Money kept"),
    ("cutoff", "Time left"),
    ("assignee", "Claimed by"),
    ("status", "Status"),
)
ACCOUNT_ACTIONS = (ReviewAction.CONFIRM_FRAUD, ReviewAction.CLEAR)
ACCOUNT_ACTION_LABELS = {
    ReviewAction.CONFIRM_FRAUD: "Confirm fraud (label 1; keep withholding)",
    ReviewAction.CLEAR: "Clear (label 0; release the held money of this account's engagements on held posts)",
}


SUBJECT_ACTION_LABELS = {
    ReviewAction.CONFIRM_FRAUD: "Confirm fraud (keep what is withheld and held)",
    ReviewAction.CLEAR: "Clear (pay what is withheld and held)",
}


def _page(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"action_labels": ACTION_LABELS, **context}, status_code=status_code
    )


def _user(request: Request, review: ReviewServices) -> ReviewUser | None:
    return review.sessions.resolve(request.cookies.get(COOKIE_NAME))


def _to_sign_in(request: Request | None = None) -> RedirectResponse:
    """To the sign-in form, which comes back here (a GET page's own URL) once signed in."""
    back = ""
    if request is not None and request.method == "GET":
        back = "?" + urlencode(
            {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
        )
    return RedirectResponse(f"/review/sign-in{back}", status_code=303)


def _refuse(request: Request, user: ReviewUser | None, message: str, status_code: int) -> HTMLResponse:
    return _page(request, "error.html", {"user": user, "message": message}, status_code=status_code)


def _act(request: Request, user: ReviewUser, act: Callable[[], object], *, then: str) -> Response:
    """Do a form's action, then go to ``then``; a service refusal is shown as an error page."""
    try:
        act()
    except ServiceError as error:
        return _refuse(request, user, error.detail, error.status_code)
    return RedirectResponse(then, status_code=303)


def _form_user(
    request: Request, review: ReviewServices, csrf_token: str, *, back: str = ""
) -> ReviewUser | Response:
    """The signed-in user of a form post, or the answer to give instead (sign-in, or 403 on CSRF).

    A post whose session expired goes to sign-in, which comes back to ``back`` afterwards.
    """
    user = _user(request, review)
    if user is None:
        target = "/review/sign-in" + ("?" + urlencode({"next": back}) if back else "")
        return RedirectResponse(target, status_code=303)
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


def _sign_in_form(
    request: Request, *, error: str = "", status_code: int = 200, next_url: str = "/review/queue"
) -> HTMLResponse:
    """The sign-in form; its CSRF token is also set as a short-lived cookie (double submit)."""
    token = new_csrf_token()
    context = {"user": None, "csrf_token": token, "error": error, "next_url": next_url}
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
def sign_in_page(request: Request, next: str = "") -> HTMLResponse:
    """The sign-in form (``next``: the console page to return to)."""
    return _sign_in_form(request, next_url=safe_next(next))


def safe_next(url: str) -> str:
    """A return address inside the console (anything else: the queue)."""
    inside = url.startswith("/review/") and not url.startswith("//") and "\\" not in url
    return url if inside and not url.startswith("/review/sign-") else "/review/queue"


@router.post("/sign-in")
def sign_in(
    request: Request,
    review: ReviewDep,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Open a session for a reviewer or admin key, then go back to ``next``; billing keys are refused."""
    if not is_valid_csrf(request.cookies.get(SIGNIN_CSRF_COOKIE), csrf_token):
        return _refuse(
            request, None, "the form expired or was not sent by this site; reload and try again", 403
        )
    try:
        token, _ = review.sessions.sign_in(api_key)
    except SignInRefused as refused:
        return _sign_in_form(request, error=str(refused), status_code=403, next_url=safe_next(next))
    signed_in = RedirectResponse(safe_next(next), status_code=303)
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
    sample: bool = False,
    sort: str = "",
    desc: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Cases in review order or sorted by a column, a page at a time, with filters kept in the URL."""
    user = _user(request, review)
    if user is None:
        return _to_sign_in(request)
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
        sort=sort if sort in SORTS else None,
        descending=desc,
        page=page,
        is_sample=True if sample else None,
    )
    return _queue(request, review, user, selection, mine=mine, now=now)


def queue_query(selection: QueueFilter, *, mine: bool, **changes: Any) -> str:
    """The queue URL's query string of a selection, with ``changes`` (sort, desc, page) applied."""
    params: dict[str, Any] = {
        "status": selection.status,
        "kind": selection.kind or "",
        "campaign": selection.campaign_id or "",
        "platform": selection.platform or "",
        "reason": selection.reason or "",
        "assignee": "" if mine else (selection.assignee or ""),
        "mine": "true" if mine else "",
        "sample": "true" if selection.is_sample else "",
        "sort": selection.sort or "",
        "desc": "true" if selection.descending else "",
        "page": selection.page,
    }
    params.update(changes)
    return urlencode({k: v for k, v in params.items() if v not in ("", None, 1) or k == "status"})


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
    found = review.cases.queue_page(selection, now=now)
    context = {
        "user": user,
        "rows": found.rows,
        "found": found,
        "awaiting_signoff": awaiting_signoff(found.rows),
        "facets": review.cases.facets(),
        "selection": selection,
        "mine": mine,
        "now": now,
        "actions": ACTIONS,
        "kinds": KINDS,
        "sorts": QUEUE_COLUMNS,
        "query": lambda **changes: queue_query(selection, mine=mine, **changes),
        "outcomes": outcomes or [],
        "views": review.cases.stored_cases.views_of(user.principal.key_id),
        "view_query": queue_query(selection, mine=mine, page=1),
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
