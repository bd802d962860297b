"""Scoring outputs written in row groups read back whole, with categoricals as plain strings."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from serving.io import _first_seen, read_table, write_parquet


def test_write_parquet_in_row_groups_keeps_every_row_and_value(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "post_id": pd.Categorical([f"p{i % 4}" for i in range(10)]),
            "risk": np.linspace(0.0, 1.0, 10),
            "copies": np.arange(10, dtype=np.int64),
            # empty in the first groups, text later: one schema must hold every group
            "evidence": [None] * 6 + ["lockstep: 12 accounts"] * 4,
        }
    )
    path = tmp_path / "out" / "engagements.parquet"
    write_parquet(frame, path, rows_per_group=3)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 4
    assert pa.types.is_string(parquet.schema_arrow.field("post_id").type) or pa.types.is_large_string(
        parquet.schema_arrow.field("post_id").type
    )
    assert parquet.schema_arrow.metadata is None  # no pandas metadata calling the column categorical
    back = pd.read_parquet(path)
    assert back["post_id"].tolist() == [f"p{i % 4}" for i in range(10)]
    assert np.allclose(back["risk"], frame["risk"]) and back["copies"].tolist() == list(range(10))
    assert back["evidence"].isna().sum() == 6 and back["evidence"].iloc[-1] == "lockstep: 12 accounts"


def test_write_parquet_of_an_empty_frame_keeps_its_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "risk": pd.Series([], dtype="float64")})
    write_parquet(frame, tmp_path / "accounts.parquet")
    back = pd.read_parquet(tmp_path / "accounts.parquet")
    assert list(back.columns) == ["account_id", "risk"] and len(back) == 0


def test_read_table_gives_dictionary_pages_ids_in_order_of_first_appearance(tmp_path: Path) -> None:
    # dictionary pages as another writer may leave them: values in another order than their rows', one
    # never used, and missing values; in several row groups; the codes must be what factorising the
    # plain strings gives
    listed = pa.array(["p9", "p2", "p1", "p3", "never"])
    at = [3, 2, None, 3, 1, 2, None, 0, 2, 3] * 3
    post = [None if i is None else listed[i].as_py() for i in at]
    action = ["like", None, "comment", "like", "share", "like", "like", "comment", None, "like"] * 3
    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "post_id": pa.DictionaryArray.from_arrays(pa.array(at, pa.int32()), listed),
            "action": pa.array(action, pa.large_string()),
            "user_id": pa.array([f"u{i % 7}" for i in range(30)]),
        }
    )
    # without Arrow's schema the file says plain strings, as a file from Spark would
    pq.write_table(table, path, row_group_size=4, store_schema=False)
    frame = read_table(path)
    assert list(frame.columns) == ["post_id", "action", "user_id"]
    for column, values in (("post_id", post), ("action", action)):
        found, uniques = pd.factorize(pd.Series(values, dtype="str"))
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
        assert frame[column].cat.codes.tolist() == found.tolist(), column
        assert frame[column].cat.categories.tolist() == list(uniques), column
        assert frame[column].astype(object).where(frame[column].notna(), None).tolist() == values


def test_dictionary_ids_listing_a_value_twice_are_merged() -> None:
    # Arrow's writer and reader de-duplicate a dictionary; another file's reader might not
    twice = pa.DictionaryArray.from_arrays(
        pa.array([1, 0, 2, None, 1], pa.int32()), pa.array(["p1", "p2", "p1"])
    )
    found = _first_seen(pa.chunked_array([twice]))
    assert found.codes.tolist() == [0, 1, 1, -1, 0]
    assert found.categories.tolist() == ["p2", "p1"]
