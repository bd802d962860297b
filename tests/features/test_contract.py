import subprocess
import sys

import pandas as pd
import pytest

from features.contract import ContractError, clean_campaigns, clean_events, clean_posts
from features.ids import id_problem
from features.schema import ContractViolation, EngagementVerdicts, Events, checked
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


BAD_IDS = {
    "nul": ("a\x00b", "control or format character"),
    "newline": ("a\nb", "control or format character"),
    "rtl mark": ("a\u200fb", "control or format character"),
    "bidi override": ("evil\u202etxt", "control or format character"),
    "line separator": ("a\u2028b", "control or format character"),
    "climbs": ("../../../../escaped", "'..' path piece"),
    "climbs windows": ("a\\..\\b", "'..' path piece"),
    "alone": ("..", "'..' path piece"),
    "too long": ("x" * 129, "longer than 128 characters"),
}


@pytest.mark.parametrize(
    "column", ["event_id", "campaign_id", "post_id", "creator_id", "user_id", "platform"]
)
@pytest.mark.parametrize("case", sorted(BAD_IDS))
@pytest.mark.parametrize("categorical", [False, True], ids=["text", "categorical"])
def test_clean_events_rejects_bad_ids_naming_column_and_row(column, case, categorical):
    value, reason = BAD_IDS[case]
    raw = pd.DataFrame([raw_event(0), raw_event(1, **{column: value}), raw_event(2)])
    if categorical:
        raw[column] = raw[column].astype("category")
    cleaned = clean_events(raw, source="events.parquet")
    assert cleaned.frame["event_id"].tolist() == ["e0", "e2"]
    [reject] = cleaned.rejects.to_dict("records")
    assert (reject["source_file"], reject["source_row"], reject["column"]) == ("events.parquet", 2, column)
    assert reject["reason"].startswith(column) and reason in reject["reason"]
    assert reject["value"].isprintable() and len(reject["value"]) <= 200


def test_clean_events_keeps_ids_with_dots_slashes_and_any_script():
    ids = ["a..b", "v1.2", "a/b", "用户_42", "emoji🙂", "x" * 128, "..a", "a.."]
    raw = pd.DataFrame([raw_event(i, user_id=u) for i, u in enumerate(ids)])
    cleaned = clean_events(raw, source="events.csv")
    assert cleaned.rejects.empty
    assert cleaned.frame["user_id"].tolist() == ids


def test_clean_events_rejects_counts_that_do_not_fit_64_bits_and_keeps_the_batch():
    big = [2**63, 2**64 + 5, 10**30, "9223372036854775808", -(2**70)]
    raw = pd.DataFrame([raw_event(0), *(raw_event(i + 1, user_followers=v) for i, v in enumerate(big))])
    raw["user_followers"] = raw["user_followers"].astype("object")
    cleaned = clean_events(raw, source="request")
    assert cleaned.frame["event_id"].tolist() == ["e0"]
    reasons = cleaned.rejects.set_index("source_row")["reason"]
    assert [reasons[r] for r in (2, 3, 4, 5)] == ["user_followers is 2^63 or more"] * 4
    assert reasons[6] == "negative user_followers"
    assert str(cleaned.frame["user_followers"].dtype) == "Int64"


def test_clean_posts_rejects_views_of_2_63():
    raw = pd.DataFrame(
        {
            "post_id": ["p1", "p2"],
            "creator_id": ["k1", "k2"],
            "campaign_id": ["c", "c"],
            "platform": ["douyin"] * 2,
            "published_at": ["2026-11-01T00:00:00Z"] * 2,
            "views": [str(2**63 - 1), str(2**63)],
        }
    )
    cleaned = clean_posts(raw, source="posts.csv")
    assert cleaned.frame["post_id"].tolist() == ["p1"]
    assert cleaned.frame.loc[0, "views"] == 2**63 - 1
    assert cleaned.rejects[["source_row", "column", "reason"]].values.tolist() == [
        [2, "views", "views is 2^63 or more"]
    ]


@pytest.mark.parametrize(
    ("ts", "bad"),
    [
        ("1999-12-31T23:59:59Z", True),
        ("2000-01-01T00:00:00Z", False),
        ("2099-12-31T23:59:59Z", False),
        ("2100-01-01T00:00:00Z", True),
        ("9999-12-31T00:00:00Z", True),
        ("0001-01-01T00:00:00Z", True),
    ],
)
def test_clean_events_rejects_timestamps_outside_the_sane_range(ts, bad):
    raw = pd.DataFrame([raw_event(0), raw_event(1, user_created_at=ts), raw_event(2, ts=ts)])
    cleaned = clean_events(raw, source="events.csv")
    if not bad:
        assert cleaned.rejects.empty
        return
    assert cleaned.frame["event_id"].tolist() == ["e0"]
    rejects = cleaned.rejects[["source_row", "column"]].values.tolist()
    assert rejects == [[2, "user_created_at"], [3, "ts"]]
    assert set(cleaned.rejects["reason"].str.removeprefix("user_created_at ").str.removeprefix("ts ")) <= {
        "outside 2000-01-01 .. 2100-01-01",
        "unparseable timestamp",
    }


def test_clean_campaigns_rejects_prices_the_service_cannot_hold():
    raw = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2", "../c3"],
            "currency": ["CNY", "CNY", "CNY"],
            "price_like": ["1000000", "999999999999.999999", "0.1"],
            "price_favorite": ["0.2", "0.2", "0.2"],
            "price_comment": ["0.5", "0.5", "0.5"],
            "price_share": ["0.8", "inf", "0.8"],
        }
    )
    cleaned = clean_campaigns(raw, source="campaigns.csv")
    assert cleaned.frame["campaign_id"].tolist() == ["c1"]
    assert cleaned.rejects[["source_row", "column", "reason"]].values.tolist() == [
        [2, "price_like", "price_like is above 1000000"],
        [2, "price_share", "price_share is above 1000000"],
        [3, "campaign_id", "campaign_id has a '..' path piece"],
    ]


def test_id_problem_is_the_batch_rule_for_one_value():
    assert id_problem("cmp-1", column="campaign_id") is None
    assert id_problem("", column="campaign_id") == "empty campaign_id"
    for value, reason in BAD_IDS.values():
        found = id_problem(value, column="post_id")
        assert found is not None and reason in found


def test_clean_events_keeps_nullable_integer_counts_as_read_from_parquet():
    raw = raw_events(3)
    raw["user_followers"] = pd.array([5, None, 2**63 - 1], dtype="Int64")
    cleaned = clean_events(raw, source="events.parquet")
    assert cleaned.rejects.empty
    assert cleaned.frame["user_followers"].tolist() == [5, pd.NA, 2**63 - 1]


def test_engagement_verdicts_hold_only_valid_engagements():
    """``held`` (waits for review) on an invalid engagement is a broken output, caught where it leaves."""
    verdicts = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "post_id": ["p1"] * 3,
            "user_id": ["u1", "u2", "u3"],
            "action": ["like"] * 3,
            "risk": [0.1, 0.48, 0.9],
            "invalid": [False, False, True],
            "reason": ["", "", "lockstep"],
            "held": [False, True, False],
        }
    )
    assert checked(verdicts, EngagementVerdicts, where="engagements.parquet") is verdicts
    with pytest.raises(ContractViolation, match="held_only_when_valid"):
        checked(verdicts.assign(held=[False, True, True]), EngagementVerdicts, where="engagements.parquet")
    with pytest.raises(ContractViolation, match="'held' not in dataframe"):
        checked(verdicts.drop(columns="held"), EngagementVerdicts, where="engagements.parquet")


_FIRST_CHECK = """
import sys
import subprocess
import sys

import pandas as pd
from features.schema import ContractViolation, EngagementVerdicts, checked, prepare_checks
if sys.argv[1] == "prepared":
    prepare_checks()
before = set(sys.modules)
frame = pd.DataFrame({"event_id": ["e1"], "post_id": ["p1"], "user_id": ["u1"], "action": ["like"],
                      "risk": [0.9], "invalid": [True], "reason": ["lockstep"], "held": [True]})
try:
    checked(frame, EngagementVerdicts, where="engagements.parquet")
except ContractViolation as error:
    print(error)
print(sorted({name.split(".")[0] for name in set(sys.modules) - before}))
"""


def test_prepare_checks_leaves_the_first_check_nothing_to_set_up():
    """Scoring prepares pandera in a thread while it reads (``cpeguard.cli``): the first check after it
    imports no more of pandera (nor hypothesis, which registering its backends imports), and says
    what an unprepared one says."""

    def first_check(mode: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_CHECK, mode], capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()

    prepared, cold = first_check("prepared"), first_check("cold")
    assert prepared[0] == cold[0] and "held_only_when_valid" in prepared[0]
    assert "'hypothesis'" in cold[1] and "'pandera'" in cold[1]
    assert "'hypothesis'" not in prepared[1] and "'pandera'" not in prepared[1]


def test_contract_models_are_every_model_the_schema_declares():
    """``prepare_checks`` prepares what ``contract_models`` finds: every model, none named by hand."""
    from features.schema import contract_models

    names = [model.__name__ for model in contract_models()]
    assert names == [
        "Events",
        "Posts",
        "Campaigns",
        "Rejects",
        "EngagementVerdicts",
        "PostDecisions",
        "AccountFlags",
    ]
