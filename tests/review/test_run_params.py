"""Review judges a settlement by the thresholds of the detection run that made it, not the service's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tests.review.conftest import REVIEW_PARAMS, bearer_secret, case_ids, load_and_settle, sign_in
from tests.serving.conftest import make_api
from training.simulator import SimulatedSet


def _clean_share(html: str) -> Decimal:
    found = re.search(r'id="clean-share">([0-9.]+) ', html)
    assert found, "no clean share on the case page"
    return Decimal(found.group(1))


def test_a_case_shows_the_band_of_the_run_that_held_its_money(tmp_path: Path, sim: SimulatedSet) -> None:
    home = tmp_path / "home"
    shares: dict[str, Decimal] = {}
    for api in make_api(home, None, params=REVIEW_PARAMS, signoff_withheld_share=0.3):
        load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
        sign_in(api.client, bearer_secret(api.reviewer))
        for case_id in case_ids(api.client.get("/review/queue", params={"kind": "post"}).text):
            shares[case_id] = _clean_share(api.client.get(f"/review/cases/{case_id}").text)
    assert any(share > 0 for share in shares.values())
    # the service now puts every engagement in the review band: under its own thresholds no
    # engagement would be clean, but the cases were held under the run's
    everything_doubted = REVIEW_PARAMS.set_params(policy__review_risk=0.0)
    for api in make_api(home, None, params=everything_doubted, signoff_withheld_share=0.3):
        sign_in(api.client, bearer_secret(api.reviewer))
        again = {case_id: _clean_share(api.client.get(f"/review/cases/{case_id}").text) for case_id in shares}
        assert again == shares
        detection = api.client.app.state.services.detection  # type: ignore[attr-defined]
        assert detection.models().champion.params.policy.review_risk == 0.0
