"""Scoring outputs written in row groups read back whole, with categoricals as plain strings."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from serving.io import write_parquet


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
