"""`cpeguard demo serve`: a fresh home filled, settled and served; the printed key signs in."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import CLI, cli_env, free_port

pytestmark = pytest.mark.e2e


def test_demo_serve_fills_a_fresh_home_and_its_key_signs_in(tmp_path: Path) -> None:
    port, home = free_port(), tmp_path / "demo"
    process = subprocess.Popen(
        [*CLI, "demo", "serve", "--port", str(port), "--home", str(home), "--scale", "0.05"],
        env=cli_env(tmp_path / "unused"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the key is printed last, before serving
            lines.append(line.strip())
            if line.startswith("cpg_"):
                break
        printed = "\n".join(lines)
        assert f"http://127.0.0.1:{port}/review" in printed and "settled" in printed
        key = lines[-1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=120) as client:
            form = client.get("/review/sign-in").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            client.post("/review/sign-in", data={"api_key": key, "csrf_token": token.group(1)})
            queue = client.get("/review/queue")
            assert queue.status_code == 200 and 'data-case-id="' in queue.text
    finally:
        process.terminate()
        process.wait(timeout=30)
    again = subprocess.run(
        [*CLI, "demo", "serve", "--home", str(home), "--scale", "0.05"],
        env=cli_env(tmp_path / "unused"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "fresh home" in again.stderr
