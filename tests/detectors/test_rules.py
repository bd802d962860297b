import numpy as np
import pandas as pd

from detectors.rules import (
    DeviceFarmParams,
    DuplicateParams,
    NewAccountParams,
    ScriptedParams,
    device_farms,
    duplicates,
    new_accounts,
    scripted_actions,
)
from features.dedup import distinct_engagements
from tests.factories import BASE_TS, clean, raw_event, raw_events


def test_duplicates_scores_recounts_only():
    raw = pd.DataFrame([raw_event(0, user_id="u"), raw_event(3, user_id="u"), raw_event(1)])
    detection = duplicates(distinct_engagements(clean(raw)), params=DuplicateParams())
    assert detection.event_score.tolist() == [0.0, 1.0, 0.0]
    assert "1 engagements re-counted" in detection.groups.loc[0, "evidence"]


def test_device_farms_ignores_households_and_scores_farms():
    household = raw_events(3, device_id="home")
    farm = pd.DataFrame([raw_event(10 + i, device_id="farm") for i in range(12)])
    events = distinct_engagements(clean(pd.concat([household, farm], ignore_index=True)))
    detection = device_farms(events, params=DeviceFarmParams())
    assert np.all(detection.event_score[:3] == 0)
    assert np.all(detection.event_score[3:] == 1.0)
    assert detection.groups.loc[0, "n_accounts"] == 12
    assert "12 accounts share one device" in detection.groups.loc[0, "evidence"]


def test_device_farms_without_device_column_finds_nothing():
    events = distinct_engagements(clean(raw_events(4).drop(columns=["device_id"])))
    assert device_farms(events, params=DeviceFarmParams()).event_score.sum() == 0


def test_new_accounts_is_weak_evidence_that_fades_with_age():
    raw = pd.DataFrame(
        [
            raw_event(0, user_created_at=(BASE_TS - pd.Timedelta(minutes=5)).isoformat()),
            raw_event(1, user_created_at=(BASE_TS - pd.Timedelta(hours=30)).isoformat()),
            raw_event(2),
        ]
    )
    score = new_accounts(distinct_engagements(clean(raw)), params=NewAccountParams()).event_score
    assert 0.35 < score[0] <= 0.4
    assert 0 < score[1] < score[0]
    assert score[2] == 0


def test_scripted_actions_reads_its_window_and_template_size_from_params():
    at = [BASE_TS + pd.Timedelta(seconds=s) for s in (0, 20, 45)]
    triple = [
        raw_event(
            i, user_id="u", action=a, ts=t.isoformat(), comment_text="great video" if a == "comment" else None
        )
        for i, (a, t) in enumerate(zip(("like", "favorite", "comment"), at, strict=True))
    ]
    events = distinct_engagements(clean(pd.DataFrame(triple)))
    found = scripted_actions(events, params=ScriptedParams())
    np.testing.assert_allclose(found.event_score, [0.3, 0.3, 0.3])
    assert "3 like+favorite+comment triples within a minute" in found.groups.loc[0, "evidence"]
    assert "at least 3 accounts repeat" in found.groups.loc[0, "evidence"]
    tight = scripted_actions(events, params=ScriptedParams(triple_within_s=30.0))
    assert tight.event_score.sum() == 0


def test_scripted_through_the_registry_shares_the_window_triples_with_the_account_features():
    from detectors.audiences import AudienceParams
    from detectors.registry import DETECTORS, WindowContext
    from features.account_features import TRIPLE_WITHIN_S

    at = [BASE_TS + pd.Timedelta(seconds=s) for s in (0, 20, 45, 50)]
    rows = [
        raw_event(i, user_id=u, action=a, ts=t.isoformat(), comment_text="ok" if a == "comment" else None)
        for i, (u, a, t) in enumerate(
            zip(("u", "u", "u", "v"), ("like", "favorite", "comment", "like"), at, strict=True)
        )
    ]
    events = distinct_engagements(clean(pd.DataFrame(rows)))
    context = WindowContext(events, posts=None, fitted=None, audience=AudienceParams())
    spec = next(spec for spec in DETECTORS if spec.name == "scripted")
    found = spec.run(events, ScriptedParams(), context)
    alone = scripted_actions(events, params=ScriptedParams())
    np.testing.assert_array_equal(found.event_score, alone.event_score)
    assert found.event_score.sum() > 0
    # one computation of the window's triples, read by the account features too
    shared = context.action_triples(within_s=TRIPLE_WITHIN_S)
    assert context.action_triples(within_s=TRIPLE_WITHIN_S) is shared
    assert context.account_features().loc["u", "triple_share"] == 1.0
    assert context.account_features().loc["v", "triple_share"] == 0.0
    # other params, other triples: 45 s apart is no triple within 30 s
    assert spec.run(events, ScriptedParams(triple_within_s=30.0), context).event_score.sum() == 0
    # rows other than the context's own are counted on their own
    assert spec.run(events.iloc[3:], ScriptedParams(), context).event_score.sum() == 0
