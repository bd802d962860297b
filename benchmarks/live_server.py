"""A real ``cpeguard`` service for the API benchmarks: its environment, database, keys and server.

The server runs as a subprocess on a free loopback port, configured from the environment
exactly as ``cpeguard serve`` is, but without the access log (``python -m
benchmarks.live_server PORT``); on PostgreSQL each run gets a fresh database, dropped
afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CLI = [sys.executable, "-m", "cpeguard.cli"]
POSTGRES_URL = os.environ.get(
    "CPEGUARD_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(home: Path, database_url: str | None) -> dict[str, str]:
    """This process's environment for a service in ``home`` on ``database_url`` (None: its SQLite file)."""
    env = {**os.environ, "CPEGUARD_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("CPEGUARD_DATABASE_URL", None)
    if database_url is not None:
        env["CPEGUARD_DATABASE_URL"] = database_url
    return env


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database on the test server, dropped afterwards."""
    admin_url = make_url(POSTGRES_URL)
    name = f"cpg_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def create_keys(env: dict[str, str], *, name: str) -> dict[str, str]:
    """A billing and a reviewer key by ``cpeguard keys create`` in the environment ``env``."""
    keys: dict[str, str] = {}
    for role in ("billing", "reviewer"):
        done = subprocess.run(
            [*CLI, "keys", "create", "--role", role, "--name", f"{name} {role}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cpeguard keys create failed: {done.stderr.strip()[-2000:]}")
        keys[role] = done.stdout.strip().splitlines()[-1]
    return keys


@contextmanager
def live_server(home: Path, database_url: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """The server's base URL and a billing and a reviewer key, once it answers ``/readyz``."""
    env = service_env(home, database_url)
    keys = create_keys(env, name="bench")
    port = free_port()
    log = (home / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.live_server", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield base, keys
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def serve(port: int) -> None:
    """The app as ``cpeguard serve`` runs it (settings from the environment), without access log."""
    import uvicorn

    from cpeguard.cli import service_config
    from cpeguard.settings import get_settings
    from serving.app import create_app

    app = create_app(service_config(get_settings()))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="internal: the benchmarks' server on PORT")
    parser.add_argument("port", type=int)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
