"""The API's edge: ids and values refused with a reason, one error body, console headers, /metrics token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.review.headers import CONTENT_SECURITY_POLICY
from tests.factories import raw_event
from tests.serving.conftest import Api, make_api

TERMS = {
    "platform": "douyin",
    "currency": "CNY",
    "price_like": "0.30",
    "price_favorite": "0.50",
    "price_comment": "1.00",
    "price_share": "1.50",
    "window_start": "2026-11-01T00:00:00Z",
    "window_end": "2026-12-01T00:00:00Z",
}
BAD_IDS = ["../../../../escaped", "a\x00b", "a\nb", "evil\u202etxt", "a\u200fb", "x" * 129]


def _is_problem(body: Any, *, validation: bool) -> bool:
    """Whether a body is the one error shape; request validation lists its fields."""
    if not isinstance(body, dict) or set(body) != {"detail", "errors"} or not isinstance(body["detail"], str):
        return False
    if not validation:
        return body["errors"] is None
    return bool(body["errors"]) and all(set(e) == {"loc", "msg", "type"} for e in body["errors"])


@pytest.mark.parametrize("bad", BAD_IDS, ids=["climbs", "nul", "newline", "bidi", "rtl", "long"])
def test_events_with_bad_ids_are_rejected_by_row_and_the_batch_kept(api: Api, bad: str) -> None:
    rows = [raw_event(0), raw_event(1, campaign_id=bad), raw_event(2, user_id=bad), raw_event(3)]
    answer = api.client.post("/v1/events", json={"events": rows}, headers=api.billing)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2
    assert [(r["row"], r["field"]) for r in body["rejected"]] == [(2, "campaign_id"), (3, "user_id")]
    assert all(r["reason"].startswith(r["field"]) for r in body["rejected"])
    home = api.config.home.resolve()
    assert not list(home.parent.glob("escaped*")) and not list(home.glob("escaped*"))
    for path in api.config.events_dir.rglob("*"):
        assert path.resolve().is_relative_to(api.config.events_dir.resolve())


def test_counts_beyond_64_bits_are_rejected_by_row_not_the_batch(api: Api) -> None:
    rows = [
        raw_event(0),
        raw_event(1, user_followers=2**63),
        raw_event(2, user_followers=10**30),
        raw_event(3),
    ]
    answer = api.client.post("/v1/events", json={"events": rows}, headers=api.billing)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2
    assert [(r["row"], r["field"], r["reason"]) for r in body["rejected"]] == [
        (2, "user_followers", "user_followers is 2^63 or more"),
        (3, "user_followers", "user_followers is 2^63 or more"),
    ]


def test_events_outside_the_sane_time_range_are_rejected(api: Api) -> None:
    rows = [raw_event(0, ts="1999-12-31T00:00:00Z"), raw_event(1, ts="2100-01-02T00:00:00Z"), raw_event(2)]
    body = api.client.post("/v1/events", json={"events": rows}, headers=api.billing).json()
    assert body["accepted"] == 1
    assert [r["reason"] for r in body["rejected"]] == ["ts outside 2000-01-01 .. 2100-01-01"] * 2


@pytest.mark.parametrize("price", ["999999999999.999999", "1000000.000001", "0.0000001", "-1", "NaN"])
def test_a_price_the_money_columns_cannot_hold_is_a_422(api: Api, price: str) -> None:
    answer = api.client.put("/v1/campaigns/c1", json={**TERMS, "price_like": price}, headers=api.billing)
    assert answer.status_code == 422
    body = answer.json()
    assert _is_problem(body, validation=True)
    assert body["errors"][0]["loc"] == ["body", "price_like"]
    assert api.client.get("/v1/campaigns/c1", headers=api.billing).status_code == 404


def test_the_largest_price_is_accepted(api: Api) -> None:
    answer = api.client.put("/v1/campaigns/c1", json={**TERMS, "price_like": "1000000"}, headers=api.billing)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/settlements/a%00b",
        "/v1/detections/a%00b",
        "/v1/accounts/a%00b",
        "/v1/settlements/a%00b/adjustments",
        "/v1/audit?target=a%00b",
        "/v1/campaigns/%2E%2E",
        "/v1/campaigns/a%0Ab",
    ],
)
def test_nul_and_unsafe_ids_in_lookups_are_a_422_on_both_databases(api: Api, path: str) -> None:
    answer = api.client.get(path, headers=api.admin)
    assert answer.status_code == 422, answer.text
    assert _is_problem(answer.json(), validation=True)


def test_every_error_answer_has_the_one_shape(api: Api) -> None:
    answers = {
        401: api.client.get("/v1/models"),
        403: api.client.put("/v1/campaigns/c1", json=TERMS, headers=api.reviewer),
        404: api.client.get("/v1/settlements/nope", headers=api.billing),
        422: api.client.put("/v1/campaigns/c1", json={}, headers=api.billing),
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        assert _is_problem(answer.json(), validation=status == 422), (status, answer.text)
    assert answers[401].headers["www-authenticate"] == "Bearer"


def test_every_route_documents_its_error_answers(sqlite_api: Api) -> None:
    schema = sqlite_api.client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                continue
            codes = {int(c) for c in operation["responses"] if c.startswith(("4", "5"))}
            assert 401 in codes, (method, path)
            for code in codes:
                content = operation["responses"][str(code)]["content"]["application/json"]
                assert content["schema"] == problem, (method, path, code)
            if (path.startswith("/v1/") and operation.get("parameters")) or "requestBody" in operation:
                assert 422 in codes, (method, path)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_console_pages_send_security_headers(sqlite_api: Api) -> None:
    for path in ("/review/sign-in", "/review/queue"):
        answer = sqlite_api.client.get(path, follow_redirects=False)
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert (
            "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
            and "script-src" not in CONTENT_SECURITY_POLICY
        )
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
    css = sqlite_api.client.get("/review/static/review.css")
    assert css.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "cache-control" not in css.headers or css.headers["cache-control"] != "no-store"
    assert "content-security-policy" not in sqlite_api.client.get("/healthz").headers


def test_console_templates_hold_no_inline_script_or_style() -> None:
    templates = Path(__file__).parents[2] / "serving" / "review" / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text().lower()
        assert "<script" not in text and "<style" not in text and " style=" not in text, page.name
        assert " onclick=" not in text and "javascript:" not in text, page.name


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[Api]:
    """The app with a metrics token set."""
    yield from make_api(tmp_path / "home", None, metrics_token="s3cret")


def test_metrics_ask_for_the_token_when_one_is_set(metered: Api) -> None:
    assert metered.client.get("/metrics").status_code == 401
    refused = metered.client.get("/metrics", headers=metered.admin)
    assert refused.status_code == 401 and _is_problem(refused.json(), validation=False)
    answer = metered.client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200
    assert "cpeguard_request_seconds" in answer.text


def test_money_metrics_are_aggregated_per_currency_only(sqlite_api: Api) -> None:
    text = sqlite_api.client.get("/metrics").text
    money = [line for line in text.splitlines() if line.startswith("cpeguard_money")]
    for line in money:
        labels = line.split("{", 1)[1].split("}", 1)[0] if "{" in line else ""
        assert {label.split("=")[0] for label in labels.split(",") if label} <= {"currency"}, line
