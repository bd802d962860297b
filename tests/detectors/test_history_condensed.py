"""History condensed to its evidence, last day and re-counts (``detectors.lookback``), on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import START_COLUMN, find_audiences
from detectors.history import prepare_history, with_prepared_history
from detectors.lookback import (
    EVIDENCE_COLUMN,
    RECENCY_COLUMN,
    HistoryParams,
    condensed,
    kept_by_reason,
    mark_evidence,
)
from detectors.params import ScoringParams
from detectors.registry import BY_NAME, WindowContext
from detectors.scorer import _view_of, _views, history_engagements, prepare_scored_history, score_window
from features.dedup import distinct_engagements
from tests.detectors.test_history import _invalid, _row, _weeks
from tests.factories import BASE_TS, clean

# the window reads the history's evidence, its last day and its re-counts only
EVIDENCE_ONLY = {
    "history__mode": "condensed",
    "history__window_accounts": False,
    "history__sample_share": 0.0,
}


def test_a_seller_pool_split_across_weeks_is_caught_from_a_twentieth_of_the_history():
    current, history = _weeks(pool=True, community=False)
    params = ScoringParams().set_params(**EVIDENCE_ONLY)
    prepared = prepare_scored_history(history, params=params)
    kept = condensed(prepared, current, params=params.history)
    assert len(kept) < 0.06 * len(prepared)  # measured 0.054: the pool's rows and the last day
    # kept alone, the history's evidence is nearly all the pool's own rows: the pool test's
    # audiences (audience__pool_min_insularity) take the pool for an audience of its own and only
    # dense_block catches it (measured 0.55); the default condensed history also keeps the window's
    # accounts and a sample of the rest, so the union's audiences are measured on real ones
    judged = score_window(current, params=params, history=prepared).engagements
    assert _invalid(judged, "s").mean() > 0.5
    params = ScoringParams().set_params(history__mode="condensed")
    judged = score_window(current, params=params, history=prepare_scored_history(history, params=params))
    judged = judged.engagements
    assert _invalid(judged, "s").mean() > 0.75  # measured 0.81 (pool 42, dense_block 10 of 64), as exact
    assert _invalid(judged, "u").sum() == 0
    assert judged["evidence"][judged["invalid"]].astype(str).str.contains("with history").all()
    # the same cut without the history's evidence (its last day and sample only) finds nothing
    blind = params.set_params(history__keep_score=1.01)
    unseen = score_window(current, params=blind, history=prepare_scored_history(history, params=blind))
    assert _invalid(unseen.engagements, "s").mean() == 0


def test_an_honest_fan_club_stays_clean_with_condensed_history():
    current, history = _weeks(pool=False, community=True)
    params = ScoringParams().set_params(**EVIDENCE_ONLY)
    prepared = prepare_scored_history(history, params=params)
    assert not prepared[EVIDENCE_COLUMN].any()  # no honest week is evidence
    judged = score_window(current, params=params, history=prepared).engagements
    assert _invalid(judged, "u").sum() == 0


def _planted_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four engagements of 10 days before the window by other accounts, one of them evidence and one
    re-counted by the window; one of its last day; one of 10 days before by a window account."""
    rng = np.random.default_rng(3)

    def at(user: str, post: str, event_id: str, before: pd.Timedelta) -> dict[str, object]:
        return _row(BASE_TS, rng, user, post) | {"event_id": event_id, "ts": (BASE_TS - before).isoformat()}

    old, recent = pd.Timedelta(days=10), pd.Timedelta(hours=12)
    rows = [
        at("x1", "q1", "evidence", old),
        at("x2", "q2", "recounted", old),
        at("x3", "q3", "dropped", old),
        at("w1", "q4", "window account", old),
        at("x4", "q5", "last day", recent),
    ]
    window = [at("w1", "p1", "a", pd.Timedelta(0)), at("x2", "q2", "again", pd.Timedelta(0))]
    return clean(pd.DataFrame(window)), clean(pd.DataFrame(rows))


def _marked(history: pd.DataFrame) -> pd.DataFrame:
    prepared = prepare_history(history)
    evidence = (prepared["event_id"].astype(str) == "evidence").to_numpy()
    return mark_evidence(prepared, evidence, params=HistoryParams(sample_share=0.0))


def test_condensed_keeps_evidence_the_last_day_re_counts_and_the_window_accounts():
    window, history = _planted_history()
    prepared = _marked(history)
    kept = condensed(prepared, window, params=HistoryParams(mode="condensed"))
    assert sorted(kept["event_id"].astype(str)) == ["evidence", "last day", "recounted", "window account"]
    alone = condensed(prepared, window, params=HistoryParams(mode="condensed", window_accounts=False))
    assert sorted(alone["event_id"].astype(str)) == ["evidence", "last day", "recounted"]
    assert EVIDENCE_COLUMN not in kept


def test_a_cap_keeps_each_accounts_latest_context_rows_and_every_evidence_row():
    """``context_rows_per_account``: the window account's six old engagements keep their latest two as
    honest context; evidence, the last day and re-counts stay whatever their account; off, all stay."""
    window, history = _planted_history()
    rng = np.random.default_rng(11)
    old = [
        _row(BASE_TS, rng, "w1", f"r{i}")
        | {"event_id": f"old {i}", "ts": (BASE_TS - pd.Timedelta(days=20 - i)).isoformat()}
        for i in range(5)
    ]
    history = clean(pd.concat([history.drop(columns="source_row"), pd.DataFrame(old)]))
    prepared = prepare_history(history)
    evidence = (prepared["event_id"].astype(str) == "evidence").to_numpy()
    capped = HistoryParams(mode="condensed", sample_share=0.0, context_rows_per_account=2)
    marked = mark_evidence(prepared, evidence, params=capped)
    # w1's latest is "window account" (10 days before), then "old 4" (16 days before)
    recency = dict(zip(marked["event_id"].astype(str), marked[RECENCY_COLUMN], strict=True))
    assert [recency[e] for e in ("window account", "old 4", "old 3", "old 0")] == [0, 1, 2, 5]
    kept = condensed(marked, window, params=capped)
    expected = ["evidence", "last day", "old 4", "recounted", "window account"]
    assert sorted(kept["event_id"].astype(str)) == expected
    assert RECENCY_COLUMN not in kept
    reasons = kept_by_reason(marked, window, params=capped)
    assert int(reasons["window_accounts"].sum()) == 7  # w1 six and x2 one, before the cap
    off = HistoryParams(mode="condensed", sample_share=0.0)
    assert RECENCY_COLUMN not in mark_evidence(prepared, evidence, params=off)
    assert len(condensed(mark_evidence(prepared, evidence, params=off), window, params=off)) == 9


def test_condensed_reads_the_window_alike_as_arrow_strings_objects_or_categoricals():
    window, history = _planted_history()
    # an account and a post the history never saw, and a re-count of the evidence by another action
    rng = np.random.default_rng(5)
    extra = _row(BASE_TS, rng, "new", "p9") | {"event_id": "b"}
    again = _row(BASE_TS, rng, "x1", "q1") | {"event_id": "c", "action": "share"}
    window = clean(pd.concat([window.drop(columns="source_row"), pd.DataFrame([extra, again])]))
    prepared = _marked(history)
    params = HistoryParams(mode="condensed", recent_days=0.1)
    ids = ["user_id", "post_id", "action"]
    assert str(window["user_id"].dtype) == "str"
    kept = condensed(prepared, window, params=params)
    assert sorted(kept["event_id"].astype(str)) == ["evidence", "recounted", "window account"]
    for same in (window.astype(dict.fromkeys(ids, object)), distinct_engagements(window)):
        pd.testing.assert_frame_equal(condensed(prepared, same, params=params), kept, check_exact=True)


def test_condensing_and_joining_share_one_look_up_and_give_the_frame_they_gave_apart():
    """``history_engagements`` looks the window's key ids up among the history's once, for condensing and
    joining both (``matched_categories``): the frame equals condensing the events and joining what is kept,
    each with its own look-up; with the ids as Arrow strings, objects or categoricals with a category no
    row uses, and with a replayed event (condensed from the window's rows, which show every copy's values)."""
    window, history = _planted_history()
    rng = np.random.default_rng(5)
    extra = _row(BASE_TS, rng, "new", "p9") | {"event_id": "b"}
    again = _row(BASE_TS, rng, "x1", "q1") | {"event_id": "c", "action": "share"}
    window = clean(pd.concat([window.drop(columns="source_row"), pd.DataFrame([extra, again])]))
    prepared = _marked(history)
    params = ScoringParams().set_params(history__mode="condensed")
    ids = ["user_id", "post_id", "action"]
    categories = {column: pd.CategoricalDtype([*window[column].unique(), "unused"]) for column in ids}
    replayed = pd.concat([window, window.iloc[[1]]], ignore_index=True)
    for events in (window, window.astype(dict.fromkeys(ids, object)), window.astype(categories), replayed):
        apart = with_prepared_history(events, condensed(prepared, events, params=params.history))
        assert apart["user_id"].astype(str).isin(["x1", "x2", "x4", "w1", "new"]).all()
        pd.testing.assert_frame_equal(
            history_engagements(events, prepared, params=params), apart, check_exact=True
        )


def test_a_replay_with_other_values_is_condensed_as_the_raw_events_are():
    """A later copy of a window event under another account and two and a half days earlier: the window's
    rows keep the first copy, and condensing reads the copy too (``replayed_rows``), so that account's
    history and the day before that earlier time are kept, as condensing the raw events keeps them."""
    window, history = _planted_history()
    rng = np.random.default_rng(7)
    mid = _row(BASE_TS, rng, "x5", "q6") | {
        "event_id": "mid",
        "ts": (BASE_TS - pd.Timedelta(days=3)).isoformat(),
    }
    history = clean(pd.concat([history.drop(columns="source_row"), pd.DataFrame([mid])]))
    copy = window.iloc[[0]].assign(user_id="x3", ts=window["ts"].iloc[0] - pd.Timedelta(days=2.5))
    events = pd.concat([window, copy], ignore_index=True)
    prepared = _marked(history)
    params = ScoringParams().set_params(history__mode="condensed")
    apart = with_prepared_history(events, condensed(prepared, events, params=params.history))
    assert {"dropped", "mid"} <= set(apart["event_id"].astype(str))
    first_copies = condensed(prepared, window, params=params.history)
    assert not {"dropped", "mid"} & set(first_copies["event_id"].astype(str))
    pd.testing.assert_frame_equal(
        history_engagements(events, prepared, params=params), apart, check_exact=True
    )


def test_a_window_engagement_re_counting_an_old_history_one_stays_a_re_count():
    window, history = _planted_history()
    params = ScoringParams().set_params(**EVIDENCE_ONLY)
    joined = history_engagements(window, _marked(history), params=params)
    recounts = joined.loc[joined["is_recount"], "event_id"].astype(str).tolist()
    assert recounts == ["again"]


def test_exact_mode_reads_a_marked_history_whole_as_it_reads_the_raw_history():
    current, history = _weeks(pool=True, community=False)
    params = ScoringParams()
    assert params.history.mode == "exact"
    prepared = prepare_scored_history(history, params=params.set_params(history__mode="condensed"))
    pd.testing.assert_frame_equal(
        history_engagements(current, prepared, params=params),
        history_engagements(current, history, params=params),
        check_exact=True,
    )


def test_an_unknown_history_mode_is_refused():
    with pytest.raises(ValueError, match="history mode"):
        ScoringParams().set_params(history__mode="approximate")


def test_a_recent_only_detector_reads_the_window_and_the_last_day_of_history():
    window, history = _planted_history()
    params = ScoringParams().set_params(history__mode="condensed", history__recent_only=("lockstep",))
    prepared = prepare_history(history)
    marked = mark_evidence(prepared, np.ones(len(prepared), dtype=bool), params=params.history)
    joined = history_engagements(window, marked, params=params)
    context = WindowContext(joined, posts=None, fitted=None, audience=params.audience)
    views = _views(joined, params=params, context=context)
    ids = joined["event_id"].astype(str).to_numpy()
    assert sorted(ids[views["recent"][1]]) == ["a", "again", "last day"]
    assert sorted(ids[views["window"][1]]) == ["a", "again"]
    assert "recent" not in _views(joined, params=params.set_params(history__recent_only=()), context=context)


def test_detectors_outside_context_for_read_every_row_but_the_honest_context():
    window, history = _planted_history()
    params = ScoringParams().set_params(history__mode="condensed", history__context_for=("pool",))
    joined = history_engagements(window, _marked(history), params=params)
    context = WindowContext(joined, posts=None, fitted=None, audience=params.audience)
    views = _views(joined, params=params, context=context)
    ids = joined["event_id"].astype(str).to_numpy()
    # "window account" is kept only as the window account's honest context
    assert sorted(ids[views["core"][1]]) == ["a", "again", "evidence", "last day", "recounted"]
    assert _view_of(BY_NAME["pool"], params) == "" and _view_of(BY_NAME["dense_block"], params) == "core"
    # the window's rows are not context; the mark stays one bool per row
    assert joined["is_context"].dtype == bool and not joined.loc[~joined["is_history"], "is_context"].any()
    scored = score_window(window, params=params, history=_marked(history)).engagements
    assert "is_context" not in scored and "is_history" not in scored


def _two_platforms() -> tuple[pd.DataFrame, pd.DataFrame]:
    """``_weeks``' planted pool on douyin, and the same world again (other ids) on kuaishou."""
    first, second = _weeks(pool=True, community=False), _weeks(pool=True, community=False, seed=1)
    renamed = [
        frame.assign(
            platform="kuaishou",
            **{c: "k" + frame[c].astype(str) for c in ("event_id", "user_id", "post_id", "creator_id")},
        )
        for frame in second
    ]
    current, history = (
        clean(pd.concat([a, b], ignore_index=True)) for a, b in zip(first, renamed, strict=True)
    )
    return current, history


def test_core_union_audiences_gives_the_core_view_each_platforms_audiences_found_on_all_its_rows():
    current, history = _two_platforms()
    params = ScoringParams().set_params(history__mode="condensed", history__core_union_audiences=True)
    prepared = prepare_scored_history(history, params=params)
    joined = history_engagements(current, prepared, params=params)
    context = WindowContext(joined, posts=None, fitted=None, audience=params.audience)
    core, at = _views(joined, params=params, context=context)["core"]
    platform = joined["platform"].astype(str).to_numpy()
    assert len(at) < len(joined) and set(platform[at]) == {"douyin", "kuaishou"}
    for name in ("douyin", "kuaishou"):
        view_rows = core.engagements.iloc[np.flatnonzero(platform[at] == name)]
        union_rows = joined.iloc[np.flatnonzero(platform == name)]
        # the very object the pool test's search found on all the platform's rows: one search, not two
        assert core.audiences(view_rows) is context.audiences(union_rows)
    # off: the core view finds its own
    off = params.set_params(history__core_union_audiences=False)
    own, own_at = _views(joined, params=off, context=context)["core"]
    douyin = own.engagements.iloc[np.flatnonzero(platform[own_at] == "douyin")]
    assert own.audiences(douyin) is not context.audiences(joined.iloc[np.flatnonzero(platform == "douyin")])
    # the pool split across weeks is caught as with the core view's own audiences (douyin 0.81, pool 42
    # and dense_block 10 of 64; kuaishou's world 0.17 both ways), and no honest account is
    judged = score_window(current, params=params, history=prepared).engagements
    apart = score_window(current, params=off, history=prepared).engagements
    assert _invalid(judged, "s").mean() > 0.75
    assert (judged["reason"].astype(str) == apart["reason"].astype(str)).all()
    assert _invalid(judged, "u").sum() == 0 and _invalid(judged, "ku").sum() == 0


def test_seeded_audiences_carry_each_platforms_history_communities_into_the_union():
    current, history = _two_platforms()
    params = ScoringParams().set_params(history__mode="condensed", history__seeded_audiences=True)
    prepared = prepare_scored_history(history, params=params)
    start = prepared[START_COLUMN].to_numpy()
    platform = prepared["platform"].astype(str).to_numpy()
    found = {name: set(start[(platform == name) & (start >= 0)]) for name in ("douyin", "kuaishou")}
    # each platform's history has communities of its own, numbered apart
    assert found["douyin"] and found["kuaishou"] and found["douyin"].isdisjoint(found["kuaishou"])
    joined = history_engagements(current, prepared, params=params)
    is_history = joined["is_history"].to_numpy()
    assert joined[START_COLUMN].dtype == np.int64 and (joined.loc[~is_history, START_COLUMN] == -1).all()
    assert (joined.loc[is_history, START_COLUMN] >= 0).any()
    # the audience search of the union starts from them: every unit of one history community stays in
    # one union community (the union's units follow ``find_audiences``' numbering, by post)
    douyin = joined.iloc[np.flatnonzero(joined["platform"].astype(str).to_numpy() == "douyin")]
    audiences = find_audiences(douyin, studios=None, params=params.audience)
    unit = audiences.units(pd.Index(douyin["post_id"].astype(str)))
    rows = douyin[START_COLUMN].to_numpy() >= 0
    for group in set(douyin[START_COLUMN].to_numpy()[rows]):
        units = unit[douyin[START_COLUMN].to_numpy() == group]
        assert len(set(audiences.communities(units))) == 1
    # off, the prepared history has no such column; on, the outputs do not show it, the pool split
    # across weeks is caught as without it (douyin 0.81) and no honest account is flagged
    off = params.set_params(history__seeded_audiences=False)
    assert START_COLUMN not in prepare_scored_history(history, params=off)
    judged = score_window(current, params=params, history=prepared).engagements
    assert START_COLUMN not in judged
    assert _invalid(judged, "s").mean() > 0.75
    assert _invalid(judged, "u").sum() == 0 and _invalid(judged, "ku").sum() == 0
