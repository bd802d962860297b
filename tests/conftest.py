"""Shared fixtures: a small simulated campaign set written once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.simulator import SimConfig, simulate, write_simulated_set

CLI = [sys.executable, "-m", "cpeguard.cli"]


def run_cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the cpeguard CLI as a real subprocess."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(
            f"cpeguard {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def small_sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated set of about 20k events with every scheme on (seed 101)."""
    out = tmp_path_factory.mktemp("sim")
    write_simulated_set(simulate(SimConfig(seed=101, scale=0.2)), out)
    return out
