"""Schemathesis over the OpenAPI schema, every check on, on SQLite and PostgreSQL.

Every operation is reached, none answers 5xx, and every answer (errors included)
has a documented status, content type and body.

Cases come from each operation's Hypothesis strategy (``APIOperation.as_strategy``) and
are sent in-process with ``Case.call``; schemathesis runs the app's lifespan itself.
Each operation's cases are counted, and so are those that got past authentication and
request validation into the route's own code, so a schema that only ever produced 401s
or 422s would fail here instead of passing silently.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.app import create_app
from serving.auth import Role
from serving.config import ServiceConfig
from serving.db.engine import make_engine, migrate
from serving.db.repositories import Repositories
from serving.keys import KeyService

MAX_EXAMPLES = 15
METRICS_TOKEN = "metrics-token"


def _admin_key(config: ServiceConfig) -> str:
    """A key made as ``cpeguard keys create`` makes it, before the app starts."""
    config.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    try:
        migrate(engine)
        db = Repositories.over(engine)
        return KeyService(keys=db.keys, audit_trail=db.audit).create(role=Role.ADMIN, name="schemathesis")[1]
    finally:
        engine.dispose()


def _reached_route(status: int, body: Any) -> bool:
    """Past authentication, roles, size limits and request validation (which adds ``errors``)."""
    if status in (401, 403, 413):
        return False
    return not (status == 422 and isinstance(body, dict) and body.get("errors"))


def _refused_across_fields(status: int, body: Any) -> bool:
    """A 422 for a rule between fields (a period's end after its start), which JSON Schema cannot state.

    Any other 422 of request validation names one field, so schema-valid data refused
    there is a finding of the positive-data check.
    """
    if status != 422 or not isinstance(body, dict):
        return False
    errors = body.get("errors")
    return not errors or all(e["loc"] == ["body"] for e in errors)


def test_every_operation_is_exercised_and_passes_every_check(
    tmp_path: Path, database_url: str | None
) -> None:
    config = ServiceConfig(
        home=tmp_path / "schema", database_url=database_url, max_batch_events=50, metrics_token=METRICS_TOKEN
    )
    key = _admin_key(config)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(config))
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/settlements", "POST /v1/settlements/{settlement_id}/signoff"} <= labels
    sent: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    server_errors: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same cases every run: a count of zero is a finding, not luck
        )
        def check(case: Any) -> None:
            token = METRICS_TOKEN if case.operation.label == "GET /metrics" else key
            # a detection over centuries of no events still walks its days: room for a loaded machine
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            sent[case.operation.label] += 1
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code >= 500:
                server_errors.append(f"{case.operation.label}: {response.status_code} {response.text[:200]}")
            if _reached_route(response.status_code, body):
                reached[case.operation.label] += 1
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            if not _refused_across_fields(response.status_code, body):
                case.validate_response(response, checks=[positive_data_acceptance])

        check()
    assert not server_errors
    assert {label for label in labels if sent[label] == 0} == set()
    not_reached = sorted(label for label in labels if reached[label] == 0)
    assert not_reached == [], f"cases never got past validation: {not_reached}; sent {dict(sent)}"


@pytest.mark.parametrize("path", ["/v1/settlements/x/signoff", "/v1/settlements/x/adjustments"])
def test_schema_documents_the_settlement_operations(tmp_path: Path, path: str) -> None:
    paths = create_app(ServiceConfig(home=tmp_path)).openapi()["paths"]
    template = path.replace("/x/", "/{settlement_id}/")
    assert "post" in paths[template]
    if template.endswith("adjustments"):
        names = {p["name"] for p in paths[template]["post"]["parameters"]}
        assert "Idempotency-Key" in names
