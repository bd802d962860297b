"""Fixtures of the settlement API: a real app on a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.api_campaigns import campaign_terms as campaign_terms  # re-exported: one definition
from detectors.model import WindowScorer
from serving.app import create_app
from serving.auth import Role
from serving.config import ServiceConfig
from training.simulator import SimConfig, SimulatedSet, simulate

POSTGRES_URL = os.environ.get(
    "CPEGUARD_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Api:
    """A running app with one key per role."""

    client: TestClient
    billing: dict[str, str]
    reviewer: dict[str, str]
    admin: dict[str, str]
    config: ServiceConfig


@pytest.fixture(scope="session")
def sim() -> SimulatedSet:
    """A small simulated campaign set (about 8k events, 4 campaigns, every scheme on)."""
    return simulate(SimConfig(seed=3, scale=0.05))


def _postgres_database() -> Iterator[str]:
    admin_url = make_url(POSTGRES_URL)
    name = f"cpg_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        engine.dispose()
        # CI starts PostgreSQL itself (.ci/run), so there a missing server is a failure
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}: {type(error).__name__}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the embedded SQLite file under home) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        yield from _postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    yield from _postgres_database()


def make_api(
    home: Path, database_url: str | None, *, scorer: WindowScorer | None = None, **overrides: Any
) -> Iterator[Api]:
    """Start the app (lifespan included) and create one key per role."""
    config = ServiceConfig(home=home, database_url=database_url, **overrides)
    app = create_app(config, scorer=scorer)
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = app.state.services.keys
        headers = {
            role.value: {"Authorization": f"Bearer {keys.create(role=role, name=role.value)[1]}"}
            for role in Role
        }
        yield Api(
            client=client,
            billing=headers["billing"],
            reviewer=headers["reviewer"],
            admin=headers["admin"],
            config=config,
        )


@pytest.fixture
def api(tmp_path: Path, database_url: str | None) -> Iterator[Api]:
    """The app on SQLite and on PostgreSQL."""
    yield from make_api(tmp_path / "home", database_url)


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    """The app on its embedded SQLite file."""
    yield from make_api(tmp_path / "home", None)
