"""`cpeguard review deadline` as a real subprocess on a home with a settled campaign past its cutoff."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from serving.config import ServiceConfig
from serving.db.engine import make_engine
from serving.db.models import ReviewCase, ReviewDecision
from serving.labels import load_labels
from tests.conftest import CLI
from tests.review.conftest import CLOSED_CAMPAIGN, REVIEW_PARAMS, load_and_settle
from tests.serving.conftest import make_api
from training.simulator import SimulatedSet

pytestmark = pytest.mark.e2e


def test_review_deadline_command_decides_overdue_cases_once(tmp_path: Path, sim: SimulatedSet) -> None:
    home = tmp_path / "home"
    running = make_api(home, None, params=REVIEW_PARAMS)
    api = next(running)
    settled = load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
    for _ in running:  # stop the app: the command works on the same home
        pass
    overdue = sum(1 for p in settled[CLOSED_CAMPAIGN]["posts"] if float(p["held_amount"]) > 0)
    env = {**os.environ, "CPEGUARD_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("CPEGUARD_DATABASE_URL", None)
    outputs = [
        subprocess.run(
            [*CLI, "review", "deadline"], capture_output=True, text=True, env=env, timeout=300, check=True
        ).stdout
        for _ in range(2)
    ]
    engine = make_engine(ServiceConfig(home=home).resolved_database_url)
    try:
        with engine.connect() as connection:  # the command opened the account, creator and group cases too
            by_kind = dict(
                connection.execute(
                    select(ReviewCase.kind, func.count())
                    .join(ReviewDecision, ReviewDecision.case_id == ReviewCase.id)
                    .where(ReviewCase.campaign_id == CLOSED_CAMPAIGN, ReviewDecision.is_deadline)
                    .group_by(ReviewCase.kind)
                ).all()
            )
            still_open = connection.execute(
                select(func.count()).where(
                    ReviewCase.campaign_id == CLOSED_CAMPAIGN, ReviewCase.status != "decided"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert by_kind.get("post") == overdue and by_kind.get("creator", 0) > 0 and still_open == 0
    assert f"{sum(by_kind.values())} cases decided by deadline" in outputs[0]
    assert "0 cases decided by deadline" in outputs[1]
    assert load_labels(ServiceConfig(home=home)).empty  # the deadline is no human verdict
    assert load_labels(ServiceConfig(home=tmp_path / "nothing")).empty
