"""The event store names folders from a hash of the campaign id, so no id reaches the filesystem raw."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from features.contract import clean_events
from serving.store import EventStore, partition_name
from tests.factories import raw_events

START = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)


def _events(campaign_id: str) -> pd.DataFrame:
    """Clean events with the given campaign id put back in after cleaning (as a caller past validation)."""
    frame = clean_events(raw_events(3), source="t").frame.drop(columns="source_row")
    frame["campaign_id"] = campaign_id
    return frame


@pytest.mark.parametrize(
    "campaign_id", ["../../x", "../../../../escaped", "/etc/passwd", "..", "a\x00b", "C:\\..\\x", "a/b"]
)
def test_append_stays_under_the_root_whatever_the_campaign_id(tmp_path: Path, campaign_id: str) -> None:
    root = tmp_path / "home" / "events"
    store = EventStore(root)
    written = store.append(_events(campaign_id), batch_id="b1")
    assert written
    for path in written:
        assert path.resolve().is_relative_to(root.resolve())
        assert path.parent.parent.name == partition_name(campaign_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    read = store.read(start=START, end=END, campaign_id=campaign_id)
    assert read["event_id"].tolist() == ["e0", "e1", "e2"]


def test_ids_that_slug_alike_keep_their_own_partitions(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append(_events("a/b"), batch_id="b1")
    store.append(_events("a_b").assign(event_id=["f0", "f1", "f2"]), batch_id="b2")
    assert partition_name("a/b") != partition_name("a_b")
    assert store.read(start=START, end=END, campaign_id="a_b")["event_id"].tolist() == ["f0", "f1", "f2"]
    assert len(store.read(start=START, end=END)) == 6


def test_folders_of_earlier_versions_are_still_read(tmp_path: Path) -> None:
    events = _events("cmp1")
    day = events["ts"].dt.strftime("%Y-%m-%d").iloc[0]
    legacy = tmp_path / "campaign_id=cmp1" / f"day={day}"
    legacy.mkdir(parents=True)
    events.to_parquet(legacy / "part-old.parquet", index=False)
    store = EventStore(tmp_path)
    assert store.read(start=START, end=END, campaign_id="cmp1")["event_id"].tolist() == ["e0", "e1", "e2"]
    assert len(store.read(start=START, end=END)) == 3
