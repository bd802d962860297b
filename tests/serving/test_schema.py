"""Schemathesis over the OpenAPI schema: no generated request makes the API answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from serving.app import create_app
from serving.auth import Role
from serving.config import ServiceConfig


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A running app (lifespan entered) and an admin key for it."""
    app = create_app(ServiceConfig(home=tmp_path_factory.mktemp("schema"), max_batch_events=50))
    with TestClient(app, raise_server_exceptions=False):
        yield app, app.state.services.keys.create(role=Role.ADMIN, name="schemathesis")[1]


def test_api_never_answers_5xx(admin_key: tuple[Any, str]) -> None:
    app, key = admin_key
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
            case.validate_response(response, checks=(not_a_server_error,))

        check()
