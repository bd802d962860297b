"""Uploaded event files decoded in batches, refused (413) as soon as they pass a limit.

A compressed file can decode to far more than it weighs (a megabyte of Parquet to
gigabytes of repeated text): the limits count what is decoded, batch by batch, so a
file past them is refused having decoded at most one batch more than the limit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from serving.errors import Invalid, PayloadTooLarge

BATCH_ROWS = 8192  # rows decoded at a time


@dataclass(frozen=True)
class IngestLimits:
    """How much one ingest may bring: JSON events, and an uploaded file's rows and decoded bytes."""

    max_batch_events: int
    max_upload_rows: int
    max_upload_decoded_bytes: int


def read_upload(filename: str, data: bytes, *, limits: IngestLimits) -> pd.DataFrame:
    """An uploaded ``.parquet`` or ``.csv`` file as a frame (CSV values as text), within the limits."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return _read_parquet(filename, data, limits=limits)
        if suffix in (".csv", ".txt"):
            return pd.concat(list(_csv_chunks(filename, data, limits=limits)), ignore_index=True)
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Invalid(f"file: {filename} cannot be read ({first})") from None
    raise Invalid(f"file: unknown file type {suffix!r}; upload .parquet or .csv")


def _read_parquet(filename: str, data: bytes, *, limits: IngestLimits) -> pd.DataFrame:
    """Text columns are read as dictionaries (each distinct value decoded once), so a batch is
    measured by what it would decode to before anything that large exists."""
    schema = pq.read_schema(pa.BufferReader(data))
    text = [f.name for f in schema if _is_text(f.type)]
    parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text)
    _check_rows(filename, parquet.metadata.num_rows, limits)  # the footer's count: refused undecoded
    batches: list[pa.RecordBatch] = []
    rows = decoded = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        rows += batch.num_rows
        decoded += sum(_decoded_bytes(column) for column in batch.columns)
        _check_rows(filename, rows, limits)
        _check_decoded(filename, decoded, limits)
        batches.append(batch)
    table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
    plain = pa.schema([pa.field(f.name, _plain_type(f.type)) for f in table.schema])
    return table.cast(plain).to_pandas()


def _is_text(kind: pa.DataType) -> bool:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    return bool(pa.types.is_string(value) or pa.types.is_large_string(value))


def _plain_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _decoded_bytes(column: pa.Array) -> int:
    """The bytes the column takes once its dictionary is expanded (computed from the value lengths)."""
    if not pa.types.is_dictionary(column.type):
        return int(column.nbytes)
    if _is_text(column.type):
        lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
        return int(pc.sum(lengths).as_py() or 0) + 4 * len(column)
    width = column.dictionary.nbytes / max(len(column.dictionary), 1)
    return int(width * len(column))


def _csv_chunks(filename: str, data: bytes, *, limits: IngestLimits) -> Iterator[pd.DataFrame]:
    rows = decoded = 0
    chunks = pd.read_csv(
        io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""], chunksize=BATCH_ROWS
    )
    with chunks:
        for chunk in chunks:
            rows += len(chunk)
            decoded += int(chunk.memory_usage(deep=True, index=False).sum())
            _check_rows(filename, rows, limits)
            _check_decoded(filename, decoded, limits)
            yield chunk


def _check_rows(filename: str, rows: int, limits: IngestLimits) -> None:
    if rows > limits.max_upload_rows:
        raise PayloadTooLarge(
            f"file: {filename} has more than {limits.max_upload_rows} rows, the limit per upload "
            "(CPEGUARD_MAX_UPLOAD_ROWS); nothing was recorded"
        )


def _check_decoded(filename: str, decoded: int, limits: IngestLimits) -> None:
    if decoded > limits.max_upload_decoded_bytes:
        raise PayloadTooLarge(
            f"file: {filename} decodes to more than {limits.max_upload_decoded_bytes} bytes, the limit "
            "per upload (CPEGUARD_MAX_UPLOAD_DECODED_BYTES); nothing was recorded"
        )
