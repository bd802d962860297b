"""Uploaded files are limited by what they decode to: rows and bytes, counted batch by batch (413)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.uploads import BATCH_ROWS
from tests.factories import raw_events
from tests.serving.conftest import Api, make_api

MAX_ROWS = 1000
MAX_DECODED = 4 * 1024 * 1024


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(
        tmp_path / "home", None, max_upload_rows=MAX_ROWS, max_upload_decoded_bytes=MAX_DECODED
    )


def _bomb(n_rows: int, *, comment_chars: int) -> bytes:
    """A Parquet file of ``n_rows`` alike contract rows whose comment is ``comment_chars`` long:
    each column one dictionary value, so the file is tiny and decodes to n_rows x comment_chars."""
    row = raw_events(1).iloc[0].to_dict() | {"comment_text": "x" * comment_chars}
    zeros = pa.array(np.zeros(n_rows, dtype=np.int32))
    table = pa.table(
        {
            name: pa.DictionaryArray.from_arrays(
                zeros, pa.array([value], type=pa.int64() if name == "user_followers" else pa.string())
            )
            for name, value in row.items()
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=n_rows)
    return sink.getvalue()


def _upload(api: Api, name: str, data: bytes) -> tuple[int, str]:
    answer = api.client.post("/v1/events", files={"file": (name, data)}, headers=api.billing)
    return answer.status_code, answer.json()["detail"] if answer.status_code != 200 else ""


def _batches(api: Api) -> int:
    return api.client.app.state.services.db.events.last_batch_id()  # type: ignore[attr-defined, no-any-return]


def test_a_decompression_bomb_is_refused_without_being_decoded(limited: Api) -> None:
    # 900 rows (under the row limit) of 100 kB comments: 90 MB decoded from a file of a few kB;
    # measured from the dictionary's value lengths, so no 90 MB ever exists
    bomb = _bomb(900, comment_chars=100_000)
    assert len(bomb) < 100_000
    status, detail = _upload(limited, "bomb.parquet", bomb)
    assert status == 413 and "CPEGUARD_MAX_UPLOAD_DECODED_BYTES" in detail and str(MAX_DECODED) in detail
    assert _batches(limited) == 0


def test_rows_past_the_limit_are_refused_from_the_footer_before_decoding(limited: Api) -> None:
    status, detail = _upload(limited, "many.parquet", _bomb(MAX_ROWS + 1, comment_chars=1))
    assert status == 413 and "CPEGUARD_MAX_UPLOAD_ROWS" in detail and str(MAX_ROWS) in detail
    csv = raw_events(MAX_ROWS + 1).to_csv(index=False).encode()
    status, detail = _upload(limited, "many.csv", csv)
    assert status == 413 and "CPEGUARD_MAX_UPLOAD_ROWS" in detail
    assert _batches(limited) == 0


def test_files_within_the_limits_are_read_across_several_batches(tmp_path: Path) -> None:
    n = BATCH_ROWS + 10  # two batches
    events = raw_events(n)
    for api in make_api(tmp_path / "home", None, max_upload_rows=n):
        sink = io.BytesIO()
        events.to_parquet(sink, index=False)
        assert (
            api.client.post(
                "/v1/events", files={"file": ("e.parquet", sink.getvalue())}, headers=api.billing
            ).json()["accepted"]
            == n
        )
        again = api.client.post(
            "/v1/events", files={"file": ("e.csv", events.to_csv(index=False).encode())}, headers=api.billing
        ).json()
        assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, n, [])
