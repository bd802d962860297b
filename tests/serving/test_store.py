"""The event store names folders from a hash of the campaign id, so no id reaches the filesystem raw."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from features.contract import clean_events
from serving.manifest import StoreFault
from serving.store import QUARANTINE, STAGING, Committed, EventStore, partition_name
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
    written = store.append(_events(campaign_id), batch_id=1)
    assert written
    for path in written:
        assert path.resolve().is_relative_to(root.resolve())
        assert path.parent.parent.name == partition_name(campaign_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    read = store.read(start=START, end=END, campaign_id=campaign_id)
    assert read["event_id"].tolist() == ["e0", "e1", "e2"]


def test_ids_that_slug_alike_keep_their_own_partitions(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append(_events("a/b"), batch_id=1)
    store.append(_events("a_b").assign(event_id=["f0", "f1", "f2"]), batch_id=2)
    assert partition_name("a/b") != partition_name("a_b")
    assert store.read(start=START, end=END, campaign_id="a_b")["event_id"].tolist() == ["f0", "f1", "f2"]
    assert len(store.read(start=START, end=END)) == 6


def test_folders_of_earlier_versions_are_listed_at_reconciliation_and_read(tmp_path: Path) -> None:
    events = _events("cmp1")
    day = events["ts"].dt.strftime("%Y-%m-%d").iloc[0]
    legacy = tmp_path / "campaign_id=cmp1" / f"day={day}"
    legacy.mkdir(parents=True)
    events.to_parquet(legacy / "part-00000001-abcdef-01234567.parquet", index=False)
    events.to_parquet(legacy / "part-old.parquet", index=False)  # no batch in its name: not accepted
    store = EventStore(tmp_path)
    done = store.reconcile(_holds({1}))
    assert [Path(p).name for p in done.adopted] == ["part-00000001-abcdef-01234567.parquet"]
    assert [Path(p).name for p in done.quarantined] == ["part-old.parquet"]
    assert store.read(start=START, end=END, campaign_id="cmp1")["event_id"].tolist() == ["e0", "e1", "e2"]
    assert len(store.read(start=START, end=END)) == 3


def _holds(batches: set[int]) -> Committed:
    """The database's answer to "which of these batches do you hold", for a fixed set."""
    return lambda asked: set(asked) & batches


def test_staged_files_are_never_read_and_reconciliation_follows_the_database(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    committed = store.stage(_events("cmp1"), batch_id=1)
    rolled_back = store.stage(_events("cmp1").assign(event_id=["f0", "f1", "f2"]), batch_id=2)
    assert store.read(start=START, end=END).empty
    done = store.reconcile_staged(_holds({1}))
    assert (done.published, done.discarded) == ([committed], [rolled_back])
    assert store.read(start=START, end=END)["event_id"].tolist() == ["e0", "e1", "e2"]
    assert not any((tmp_path / STAGING).iterdir())


def test_published_files_of_batches_the_database_lacks_are_quarantined(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append(_events("cmp1"), batch_id=1)
    [orphan] = store.append(_events("cmp1").assign(event_id=["f0", "f1", "f2"]), batch_id=2)
    done = store.reconcile(_holds({1}))
    assert done.quarantined == [orphan.relative_to(tmp_path).as_posix()]
    assert (tmp_path / QUARANTINE / done.quarantined[0]).exists() and not orphan.exists()
    assert store.read(start=START, end=END)["event_id"].tolist() == ["e0", "e1", "e2"]
    assert store.verify() == []


def test_reads_stop_at_the_batch_asked(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.append(_events("cmp1"), batch_id=1)
    store.append(_events("cmp1").assign(event_id=["f0", "f1", "f2"]), batch_id=2)
    assert store.read(start=START, end=END, through_batch=1)["event_id"].tolist() == ["e0", "e1", "e2"]
    assert len(store.read(start=START, end=END, through_batch=2)) == 6


def test_a_garbage_part_file_is_a_store_fault_named_by_read_and_verify(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    [path] = store.append(_events("cmp1"), batch_id=1)
    store.read(start=START, end=END)  # verified once: the checksum is cached by size and time
    path.write_bytes(b"PAR1 garbage " * 100)
    with pytest.raises(StoreFault, match=path.name):
        store.read(start=START, end=END, campaign_id="cmp1")
    assert len(store.verify()) == 1 and path.name in store.verify()[0]


def test_same_size_overwrite_is_caught_by_the_checksum(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    [path] = store.append(_events("cmp1"), batch_id=1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreFault, match="checksum"):
        store.read(start=START, end=END)


def test_a_missing_file_or_partition_is_a_store_fault(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    [path] = store.append(_events("cmp1"), batch_id=1)
    path.unlink()
    with pytest.raises(StoreFault, match="missing"):
        store.read(start=START, end=END)
    shutil.rmtree(path.parent)
    with pytest.raises(StoreFault, match=r"partition .* is missing"):
        store.read(start=START, end=END, campaign_id="cmp1")
    assert store.verify() == [
        f"partition {path.parent.relative_to(tmp_path).as_posix()} is missing (no manifest)"
    ]


def test_a_batch_staged_by_an_earlier_version_is_published(tmp_path: Path) -> None:
    """Earlier versions staged a batch in a copy of its partitions' folders; a crash may have left one."""
    store = EventStore(tmp_path)
    key = store.stage(_events("cmp1"), batch_id=1)
    folder = tmp_path / STAGING / key
    for staged in list(folder.glob("*.parquet")):
        earlier = folder / staged.name.replace("~", "/")
        earlier.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(earlier)
    done = store.reconcile_staged(_holds({1}))
    assert done.published == [key]
    assert store.read(start=START, end=END)["event_id"].tolist() == ["e0", "e1", "e2"]
    assert store.verify() == [] and not any((tmp_path / STAGING).iterdir())


def test_parts_of_differing_schemas_are_read_whole(tmp_path: Path) -> None:
    """Parts written by other tools or versions (a count as floats, a column missing) are still read."""
    store = EventStore(tmp_path)
    store.append(_events("cmp1"), batch_id=1)
    other = _events("cmp1").assign(event_id=["f0", "f1", "f2"], user_followers=[1.0, 2.0, float("nan")])
    store.append(other.drop(columns="comment_text"), batch_id=2)
    read = store.read(start=START, end=END)
    assert sorted(read["event_id"]) == ["e0", "e1", "e2", "f0", "f1", "f2"]
    later = read.set_index("event_id").loc[["f0", "f1", "f2"]]
    assert later["user_followers"].tolist()[:2] == [1.0, 2.0] and pd.isna(later["user_followers"].iloc[2])
    assert later["comment_text"].isna().all()
