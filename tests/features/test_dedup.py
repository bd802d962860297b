import pandas as pd

from features.dedup import distinct_engagements
from tests.factories import clean, raw_event


def test_distinct_engagements_counts_replays_once_with_copies():
    raw = pd.DataFrame([raw_event(0), raw_event(1), raw_event(0)])
    distinct = distinct_engagements(clean(raw))
    assert distinct["event_id"].tolist() == ["e0", "e1"]
    assert distinct["copies"].tolist() == [2, 1]
    assert not distinct["is_recount"].any()


def test_distinct_engagements_marks_later_recount_of_same_user_post_action():
    raw = pd.DataFrame(
        [
            raw_event(5, user_id="u1", event_id="late"),
            raw_event(1, user_id="u1", event_id="early"),
            raw_event(2, user_id="u1", event_id="fav", action="favorite"),
        ]
    )
    distinct = distinct_engagements(clean(raw)).set_index("event_id")
    assert distinct.loc["late", "is_recount"]
    assert not distinct.loc["early", "is_recount"]
    assert not distinct.loc["fav", "is_recount"]


def test_distinct_engagements_does_not_mutate_input():
    events = clean(pd.DataFrame([raw_event(0), raw_event(0)]))
    before = events.copy()
    distinct_engagements(events)
    pd.testing.assert_frame_equal(events, before)


def test_distinct_engagements_of_no_events_and_of_one_event():
    one = clean(pd.DataFrame([raw_event(0)]))
    assert distinct_engagements(one.iloc[:0])["is_recount"].tolist() == []
    assert distinct_engagements(one)["is_recount"].tolist() == [False]
