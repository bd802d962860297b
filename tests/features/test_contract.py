import pandas as pd
import pytest

from features.contract import ContractError, clean_campaigns, clean_events, clean_posts
from features.schema import Events
from tests.factories import raw_event, raw_events


def test_clean_events_accepts_good_rows_with_contract_dtypes():
    cleaned = clean_events(raw_events(5), source="events.csv")
    assert len(cleaned.frame) == 5
    assert cleaned.rejects.empty
    Events.validate(cleaned.frame)
    assert str(cleaned.frame["ts"].dtype) == "datetime64[us, UTC]"
    assert cleaned.frame["source_row"].tolist() == [1, 2, 3, 4, 5]


def test_clean_events_missing_required_column_names_file_and_column():
    raw = raw_events(3).drop(columns=["user_id"])
    with pytest.raises(ContractError, match=r"events\.csv: missing required column 'user_id'"):
        clean_events(raw, source="events.csv")


def test_clean_events_rejects_only_bad_rows_with_reason_and_row():
    raw = pd.DataFrame(
        [
            raw_event(0),
            raw_event(1, ts="not a time"),
            raw_event(2, user_id=""),
            raw_event(3, user_followers=-4),
            raw_event(4),
        ]
    )
    cleaned = clean_events(raw, source="events.csv")
    assert cleaned.frame["event_id"].tolist() == ["e0", "e4"]
    rejects = cleaned.rejects.set_index("source_row")
    assert rejects.loc[2, "reason"] == "unparseable timestamp"
    assert rejects.loc[2, "column"] == "ts"
    assert rejects.loc[3, "reason"] == "empty user_id"
    assert rejects.loc[4, "reason"] == "negative user_followers"
    assert set(rejects["source_file"]) == {"events.csv"}


def test_clean_events_column_that_never_parses_is_a_file_error():
    raw = raw_events(4)
    raw["ts"] = "yesterday"
    with pytest.raises(ContractError, match="column 'ts' cannot be read as a timestamp"):
        clean_events(raw, source="events.csv")


def test_clean_events_numeric_timestamps_are_a_file_error():
    raw = raw_events(3)
    raw["ts"] = [1, 2, 3]
    with pytest.raises(ContractError, match="holds numbers"):
        clean_events(raw, source="events.parquet")


def test_clean_events_missing_optional_columns_are_reported_not_errors():
    raw = raw_events(3).drop(columns=["device_id", "ip"])
    cleaned = clean_events(raw, source="events.csv")
    assert len(cleaned.frame) == 3
    assert cleaned.missing_optional == ("device_id", "ip")
    assert cleaned.frame["device_id"].isna().all()


def test_clean_events_keeps_unknown_extra_columns():
    raw = raw_events(2).assign(partner_flag=["x", "y"])
    cleaned = clean_events(raw, source="events.csv")
    assert cleaned.frame["partner_flag"].tolist() == ["x", "y"]


def test_clean_events_normalises_action_and_platform_case():
    cleaned = clean_events(raw_events(1, action="Like", platform="DOUYIN"), source="e.csv")
    assert cleaned.frame.loc[0, "action"] == "like"
    assert cleaned.frame.loc[0, "platform"] == "douyin"


def test_clean_events_parses_offsets_to_utc():
    cleaned = clean_events(raw_events(1, ts="2026-11-02T20:00:00+08:00"), source="e.csv")
    assert cleaned.frame.loc[0, "ts"] == pd.Timestamp("2026-11-02T12:00:00Z")


def test_clean_posts_rejects_repeated_post_ids():
    raw = pd.DataFrame(
        {
            "post_id": ["p1", "p1", "p2"],
            "creator_id": ["k1", "k1", "k2"],
            "campaign_id": ["c", "c", "c"],
            "platform": ["douyin"] * 3,
            "published_at": ["2026-11-01T00:00:00Z"] * 3,
        }
    )
    cleaned = clean_posts(raw, source="posts.csv")
    assert cleaned.frame["post_id"].tolist() == ["p1", "p2"]
    assert cleaned.rejects["reason"].tolist() == ["repeated post_id"]
    assert cleaned.rejects["source_row"].tolist() == [2]


def test_clean_campaigns_rejects_negative_prices():
    raw = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2"],
            "currency": ["CNY", "CNY"],
            "price_like": ["0.1", "-1"],
            "price_favorite": ["0.2", "0.2"],
            "price_comment": ["0.5", "0.5"],
            "price_share": ["0.8", "0.8"],
        }
    )
    cleaned = clean_campaigns(raw, source="campaigns.csv")
    assert cleaned.frame["campaign_id"].tolist() == ["c1"]
    assert cleaned.rejects.loc[0, "reason"] == "negative price_like"
