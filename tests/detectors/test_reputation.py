"""Reputation as weak evidence: known accounts scored, capped alone, adding to structural signals."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from detectors.base import Detection
from detectors.combine import combine
from detectors.memory import confirmed_subjects
from detectors.params import DetectorParams, ScoringParams
from detectors.registry import WEAK
from detectors.reputation import decayed, known_sellers, readable
from detectors.scorer import ScoredWindow, confirmed_accounts, score_window
from tests.factories import clean, raw_events

WEAK_CAP = ScoringParams().policy.weak_cap


def _reputation(*accounts: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [a for a, _ in accounts],
            "score": [s for _, s in accounts],
            "source": [f"run det_{a}" for a, _ in accounts],
            "established_at": pd.Timestamp("2026-11-20T00:00:00Z"),
        }
    )


def test_known_sellers_scores_known_accounts_and_names_the_run_that_confirmed_them():
    events = clean(raw_events(6)).assign(user_id=lambda f: f["user_id"].astype("category"))
    found = known_sellers(events, reputation=_reputation(("u1", 0.6), ("u4", 0.25), ("nobody", 1.0)))
    assert found.event_score.tolist() == [0.0, 0.6, 0.0, 0.0, 0.25, 0.0]
    assert (found.event_group >= 0).tolist() == [False, True, False, False, True, False]
    evidence = found.groups.set_index("group_id")["evidence"]
    assert evidence[found.event_group[1]] == "account confirmed by run det_u1 on 2026-11-20 (decayed 0.60)"
    assert known_sellers(events, reputation=None).event_score.sum() == 0


def test_known_seller_alone_stays_under_the_weak_cap_and_the_window_stays_paid():
    events = clean(raw_events(40))
    known = _reputation(*((f"u{i}", 1.0) for i in range(40)))
    scored = score_window(events, params=ScoringParams(), reputation=known)
    seller = next(d for d in scored.detections if d.name == "known_seller")
    assert (seller.event_score == 1.0).all()
    assert not scored.engagements["invalid"].any()
    assert scored.engagements["risk"].max() <= WEAK_CAP
    assert (scored.posts["payable"] == scored.posts["claimed_amount"]).all()


def test_known_seller_adds_to_a_structural_signal_as_any_weak_signal_does():
    events = clean(raw_events(3))
    seller = known_sellers(events, reputation=_reputation(("u0", 0.9), ("u1", 0.9)))
    burst = Detection("burst", np.array([0.9, 0.9, 0.0]), np.full(3, -1, dtype=np.int64))
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [2], "n_posts": [1], "evidence": ["lockstep"]})
    structural = Detection("lockstep", np.array([0.3, 0.0, 0.3]), np.array([0, -1, 0]), groups)

    def verdicts(weak: Detection) -> pd.DataFrame:
        return combine([structural, weak], n_events=3, invalid_risk=0.5, weak=WEAK, weak_cap=WEAK_CAP)

    with_seller, with_burst = verdicts(seller), verdicts(burst)
    assert with_seller["risk"].tolist() == with_burst["risk"].tolist()
    assert with_seller["invalid"].tolist() == [
        True,
        False,
        False,
    ]  # structural + known; known alone; structural alone
    assert with_seller.loc[1, "risk"] == pytest.approx(WEAK_CAP)
    assert with_seller.loc[0, "risk"] == pytest.approx(1 - 0.7 * (1 - WEAK_CAP))
    # the strongest score names the reason, and the evidence names the run that confirmed the account
    assert with_seller.loc[0, "reason"] == "known_seller"
    assert with_seller.loc[0, "evidence"] == "account confirmed by run det_u0 on 2026-11-20 (decayed 0.90)"


def test_without_reputation_the_outputs_are_those_of_before():
    events = clean(raw_events(30))
    before = score_window(events, params=ScoringParams())
    strangers = score_window(events, params=ScoringParams(), reputation=_reputation(("stranger", 1.0)))
    for name in ("engagements", "posts", "accounts"):
        pd.testing.assert_frame_equal(getattr(before, name), getattr(strangers, name))


def test_confirmed_accounts_counts_structural_evidence_alone_and_never_a_re_count():
    ts = pd.date_range("2026-11-02", periods=4, freq="D", tz="UTC")
    engagements = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "ts": ts})
    none = np.full(4, -1, dtype=np.int64)
    window = ScoredWindow(
        engagements=engagements,
        posts=pd.DataFrame(),
        accounts=pd.DataFrame(),
        detections=(
            Detection("lockstep", np.array([0.6, 0.3, 0.0, 0.0]), none),
            Detection("pool", np.array([0.0, 0.3, 0.0, 0.0]), none),
            Detection("known_seller", np.array([0.0, 0.0, 1.0, 0.0]), none),
            Detection("duplicate", np.array([0.0, 0.0, 0.0, 1.0]), none),
        ),
    )
    # b: 1 - 0.7 * 0.7 = 0.51 from two structural detectors; c only known; d only a re-count
    confirmed = confirmed_accounts(window, invalid_risk=0.5)
    assert confirmed["account_id"].tolist() == ["a", "b"]
    assert confirmed["established_at"].tolist() == list(ts[:2])


def test_decayed_halves_every_half_life():
    assert decayed(np.array([0.0, 30.0, 60.0, -5.0]), half_life_days=30.0).tolist() == [1.0, 0.5, 0.25, 1.0]


def test_detector_params_pickled_before_known_seller_existed_take_its_defaults():
    old = DetectorParams()
    state = dict(old.__dict__)
    del state["known_seller"]
    revived = DetectorParams.__new__(DetectorParams)
    revived.__setstate__(state)
    assert revived == old
    assert pickle.loads(pickle.dumps(old)) == old


def _known(*rows: tuple[str, str, float, str, str]) -> pd.DataFrame:
    """A known frame: (kind, subject, score, source, detail), established 2026-11-20, none cleared."""
    frame = pd.DataFrame(rows, columns=["subject_kind", "subject_id", "score", "source", "detail"])
    return frame.assign(established_at=pd.Timestamp("2026-11-20T00:00:00Z"), cleared_at=pd.NaT)


def test_known_sellers_reads_devices_ips_and_groups_and_names_what_confirmed_them():
    raw = raw_events(5)
    raw.loc[1, "device_id"] = "farm-phone"
    raw.loc[2, "ip"] = "farm-ip"
    events = clean(raw)
    known = _known(
        ("device", "farm-phone", 0.5, "run det_a", "farm of 12 accounts"),
        ("ip", "farm-ip", 0.4, "run det_b", "farm of 7 accounts"),
        ("group", "u3", 0.3, "run det_c", "pool group of 20 accounts"),
        ("account", "u4", 0.2, "review case rc_1", ""),
    )
    found = known_sellers(events, reputation=known)
    assert found.event_score.tolist() == [0.0, 0.5, 0.4, 0.3, 0.2]
    evidence = found.groups.set_index("group_id")["evidence"]
    assert [evidence[g] for g in found.event_group[1:]] == [
        "account on a device farm of 12 accounts confirmed by run det_a on 2026-11-20 (decayed 0.50)",
        "account behind an IP farm of 7 accounts confirmed by run det_b on 2026-11-20 (decayed 0.40)",
        "account in a pool group of 20 accounts confirmed by run det_c on 2026-11-20 (decayed 0.30)",
        "account confirmed by review case rc_1 on 2026-11-20 (decayed 0.20)",
    ]
    # the strongest subject of an engagement speaks for it
    both = known_sellers(events.assign(device_id="farm-phone"), reputation=known)
    assert both.event_score.tolist() == [0.5] * 5


def test_an_account_cleared_after_a_farm_was_confirmed_is_not_known_through_it():
    events = clean(raw_events(3, device_id="farm-phone"))
    farm = _known(("device", "farm-phone", 0.8, "run det_a", "farm of 12 accounts"))
    cleared = pd.DataFrame(
        {
            "subject_kind": ["account", "account"],
            "subject_id": ["u1", "u2"],
            "score": [0.0, 0.0],
            "source": ["", ""],
            "detail": ["", ""],
            # u1 cleared after the farm was confirmed; u2 before it (the farm is news about u2)
            "established_at": [pd.Timestamp("2026-11-25T00:00:00Z"), pd.Timestamp("2026-11-10T00:00:00Z")],
        }
    ).assign(cleared_at=lambda f: f["established_at"])
    found = known_sellers(events, reputation=pd.concat([farm, cleared], ignore_index=True))
    assert found.event_score.tolist() == [0.8, 0.0, 0.8]


def test_confirmed_subjects_remember_a_device_farm_and_its_accounts_not_their_other_devices():
    farm = raw_events(12, device_id="farm-phone", post_id="p_bought")
    farm["user_id"] = [f"f{i}" for i in range(12)]
    # each farm account also likes another post from its own phone; an honest crowd on a third post
    own = raw_events(12, post_id="p_other")
    own["user_id"], own["event_id"] = farm["user_id"], [f"o{i}" for i in range(12)]
    honest = raw_events(30, post_id="p_honest")
    honest["event_id"] = [f"h{i}" for i in range(30)]
    honest["user_id"], honest["device_id"] = [f"h{i}" for i in range(30)], [f"dh{i}" for i in range(30)]
    events = clean(pd.concat([farm, own, honest], ignore_index=True))
    params = ScoringParams()
    found = confirmed_subjects(score_window(events, params=params), params=params)
    by_kind = found.groupby("subject_kind")["subject_id"].apply(set)
    assert by_kind["device"] == {"farm-phone"}  # not the farm accounts' own phones, reached by spreading
    assert by_kind["account"] == {f"f{i}" for i in range(12)}
    device = found.set_index("subject_id").loc["farm-phone"]
    assert device["detail"] == "farm of 12 accounts" and device["platform"] == "douyin"


def test_a_reputation_read_by_a_window_skips_runs_inside_its_context_and_later_reviews():
    at = pd.Timestamp("2026-11-20T00:00:00Z")
    entries = pd.DataFrame(
        {
            "source_kind": ["run", "run", "case", "case"],
            "established_at": [
                at - pd.Timedelta(days=30),
                at - pd.Timedelta(days=3),
                at,
                at + pd.Timedelta(hours=1),
            ],
        }
    )
    context_start = at - pd.Timedelta(days=28)
    assert readable(entries, start=at, context_start=context_start).tolist() == [True, False, True, False]
