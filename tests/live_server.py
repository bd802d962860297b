"""`cpeguard keys create` and `cpeguard serve` as real processes, for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import CLI


def cli_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a CLI process with its own home, SQLite unless a database URL is given."""
    env = {**os.environ, "CPEGUARD_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", **settings}
    if "CPEGUARD_DATABASE_URL" not in settings:
        env.pop("CPEGUARD_DATABASE_URL", None)
    return env


def create_key(env: dict[str, str], role: str) -> str:
    """A new API key made by `cpeguard keys create` (its last line of output)."""
    done = subprocess.run(
        [*CLI, "keys", "create", "--role", role, "--name", f"e2e {role}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str], *, ready_within_s: float = 120.0) -> Iterator[str]:
    """`cpeguard serve` on a free loopback port until the block ends; yields its base URL.

    Waits for /readyz; a server that exits or never gets ready fails with its own stderr.
    """
    with server_process(env, ready_within_s=ready_within_s) as (base, _process):
        yield base


@contextmanager
def server_process(
    env: dict[str, str], *, ready_within_s: float = 120.0, prefix: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``running_server``, yielding the process too (to see it die at a fault point); ``prefix``
    runs the server under another command (``unshare``: as on another node)."""
    port = free_port()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [*prefix, *CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_within_s
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                stderr.seek(0)
                log = stderr.read().decode(errors="replace")[-4000:]
                raise AssertionError(f"cpeguard serve did not become ready on {base}:\n{log}")
            yield base, process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)
