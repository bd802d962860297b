import numpy as np
import pandas as pd

from detectors.infra import IpFarmParams, shared_infrastructure
from features.dedup import distinct_engagements
from tests.factories import clean, raw_event


def _window(*, farm_accounts: int, nat_users: int = 300, seed: int = 0) -> pd.DataFrame:
    """Honest users (some behind one carrier NAT) on 20 posts, plus a farm behind one IP on post p0."""
    rng = np.random.default_rng(seed)
    rows = []
    i = 0
    for user in range(2000):
        ip = "nat" if user < nat_users else f"home{user}"
        for post in rng.choice(20, size=3, replace=False):
            rows.append(raw_event(i, user_id=f"u{user}", post_id=f"p{post}", ip=ip))
            i += 1
    for worker in range(farm_accounts):
        rows.append(raw_event(i, user_id=f"w{worker}", post_id="p0", ip="farm"))
        i += 1
    return distinct_engagements(clean(pd.DataFrame(rows)))


def test_shared_infrastructure_flags_accounts_concentrated_behind_one_ip():
    events = _window(farm_accounts=30)
    detection = shared_infrastructure(events, params=IpFarmParams(), column="ip", name="ip_farm")
    is_worker = events["user_id"].str.startswith("w").to_numpy()
    assert (detection.event_score[is_worker] >= 0.7).all()
    assert (detection.event_score[~is_worker] == 0).all()
    assert "30 accounts behind one IP engaged post p0" in detection.groups.loc[0, "evidence"]


def test_shared_infrastructure_leaves_carrier_nat_alone():
    events = _window(farm_accounts=0, nat_users=600)
    assert shared_infrastructure(events, params=IpFarmParams(), column="ip").event_score.sum() == 0


def test_shared_infrastructure_without_the_column_finds_nothing():
    events = _window(farm_accounts=30).drop(columns=["ip"])
    assert shared_infrastructure(events, params=IpFarmParams(), column="ip").event_score.sum() == 0
