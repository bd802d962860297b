import numpy as np
import pandas as pd

from detectors.audiences import AudienceParams
from detectors.base import Detection
from detectors.infra import IpFarmParams, shared_infrastructure
from detectors.registry import DETECTORS, WindowContext
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


def _two_audiences(*, farm_accounts: int, seed: int = 0) -> pd.DataFrame:
    """One platform, two audiences that never meet: a small one (500 users, 20 creators, a carrier NAT
    in front of 150 of its users, post a0 popular) and one twenty times larger; plus a farm of
    ``farm_accounts`` accounts behind one IP on the small audience's post a1."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for audience, n_users in (("a", 500), ("b", 10_000)):
        weights = np.r_[6.0, np.ones(19)] if audience == "a" else np.ones(20)
        for user in range(n_users):
            ip = "nat" if audience == "a" and user < 150 else f"home-{audience}{user}"
            for post in rng.choice(20, size=3, replace=False, p=weights / weights.sum()):
                rows.append(
                    raw_event(
                        len(rows),
                        user_id=f"{audience}u{user}",
                        post_id=f"{audience}{post}",
                        creator_id=f"{audience}k{post}",
                        ip=ip,
                    )
                )
    for worker in range(farm_accounts):
        rows.append(raw_event(len(rows), user_id=f"w{worker}", post_id="a1", creator_id="ak1", ip="farm"))
    return distinct_engagements(clean(pd.DataFrame(rows)))


def _ip_farm(events: pd.DataFrame) -> Detection:
    """The registry's ip_farm detector on ``events`` (the window), as the scorer runs it."""
    spec = next(spec for spec in DETECTORS if spec.name == "ip_farm")
    context = WindowContext(events, posts=None, fitted=None, audience=AudienceParams())
    return spec.run(events, IpFarmParams(), context)


def test_ip_farm_counts_a_carrier_nat_against_its_own_audience():
    # the NAT's users meet only their audience: against the whole platform (21x its mass) their
    # ordinary engagement of a popular post reads as ~20x chance
    events = _two_audiences(farm_accounts=30)
    detection = _ip_farm(events)
    ip = events["ip"].astype(str).to_numpy()
    assert (detection.event_score[ip == "nat"] == 0).all()
    assert (detection.event_score[ip == "farm"] >= 0.7).all()
    assert (detection.event_score[(ip != "farm")] == 0).all()
