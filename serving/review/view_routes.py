"""Saved queue views per reviewer: save the queue's current filters and sort under a name, list them on
the queue, delete them. Stored per reviewer key in ``review_views``.

Registered after ``serving.review.routes`` and before ``serving.review.case_routes`` (its catch-all).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from serving.db.database import utcnow
from serving.review.routes import ReviewDep, _form_user, _refuse, router
from serving.review.sessions import ReviewUser

# the queue's parameters a view keeps (its page is not kept)
VIEW_PARAMS = (
    "status",
    "kind",
    "campaign",
    "platform",
    "reason",
    "assignee",
    "mine",
    "sample",
    "sort",
    "desc",
)
MAX_VIEW_NAME = 100


def view_query(query: str) -> str:
    """A queue query string reduced to what a view keeps (known filters and the sort, no page)."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=False) if k in VIEW_PARAMS]
    return urlencode(kept)


@router.post("/views")
def save_view(
    request: Request,
    review: ReviewDep,
    name: Annotated[str, Form(max_length=400)] = "",
    query: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Save the queue's current filters and sort under a name (the same name again replaces it)."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    name = name.strip()
    if not name or len(name) > MAX_VIEW_NAME:
        return _refuse(request, user, f"name: a view needs a name of 1 to {MAX_VIEW_NAME} characters", 422)
    kept = view_query(query)
    review.cases.stored_cases.save_view(key_id=user.principal.key_id, name=name, query=kept, now=utcnow())
    return RedirectResponse(f"/review/queue?{kept}", status_code=303)


@router.post("/views/{view_id}/delete")
def delete_view(
    request: Request, view_id: str, review: ReviewDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Delete one of your saved views (another reviewer's is a 404)."""
    user = _form_user(request, review, csrf_token)
    if not isinstance(user, ReviewUser):
        return user
    if not review.cases.stored_cases.delete_view(key_id=user.principal.key_id, view_id=view_id):
        return _refuse(request, user, f"you have no saved view {view_id!r}", 404)
    return RedirectResponse("/review/queue", status_code=303)
