"""Reading contract files and writing scoring outputs: the only file I/O of batch scoring."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from detectors.scorer import ScoredWindow
from features.arrays import categorical
from features.contract import (
    Cleaned,
    ContractError,
    clean_campaigns,
    clean_events,
    clean_posts,
    empty_rejects,
)
from features.dedup import CATEGORICAL_COLUMNS

ENGAGEMENT_COLUMNS = ("event_id", "post_id", "user_id", "action", "risk", "invalid", "reason")
# ``held``: valid but waiting for review (``detectors.policy.held_engagements``); a ``hold``
# post's held engagements times their unit price are its ``held_amount``
ENGAGEMENT_EXTRA = ("campaign_id", "creator_id", "copies", "unit_price", "evidence", "held")
POST_COLUMNS = (
    "campaign_id",
    "post_id",
    "creator_id",
    "claimed",
    "valid",
    "risk",
    "decision",
    "payable",
    "reasons",
)
POST_EXTRA = ("claimed_amount", "held_amount", "withheld_amount")
ACCOUNT_COLUMNS = ("account_id", "role", "risk", "flagged", "reasons")


DICTIONARY_COLUMNS = CATEGORICAL_COLUMNS
# the id columns of few distinct values next to the rows (a window's platforms, campaigns, actions, posts
# and creators): Parquet keeps them in dictionary pages, read as they are (``_parquet_frame``)
FEW_VALUES = frozenset({"platform", "campaign_id", "post_id", "creator_id", "action"}) & frozenset(
    DICTIONARY_COLUMNS
)
_EVENT_SUFFIXES = (".parquet", ".pq", ".csv", ".txt")


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet or CSV file as a frame; CSV values are read as text and coerced later."""
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return _parquet_frame(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ContractError(f"{path}: cannot be read ({first_line})") from error
    raise ContractError(f"{path}: unknown file type {suffix!r}; use .parquet or .csv")


def _parquet_frame(path: Path) -> pd.DataFrame:
    """A Parquet file as a frame with categorical ids (``with_categorical_ids``).

    The id columns of few values (``FEW_VALUES``) are read as Arrow dictionaries, straight from
    Parquet's dictionary pages: their strings are never materialised nor hashed per row.
    """
    text = (pa.types.is_string, pa.types.is_large_string)
    few = [f.name for f in pq.read_schema(path) if f.name in FEW_VALUES and any(t(f.type) for t in text)]
    table = pq.read_table(path, read_dictionary=few)
    frame = table.drop_columns(few).to_pandas()
    for column in few:
        frame[column] = _first_seen(table[column])
    # in the file's order (a column pandas' metadata names as the index is the index)
    return with_categorical_ids(frame[[c for c in table.column_names if c in frame]])


def _first_seen(column: pa.ChunkedArray) -> pd.Categorical:
    """A dictionary column as ``with_categorical_ids`` makes a column of its values: categories in order of
    first appearance, missing values -1."""
    merged = column.unify_dictionaries().combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    values = merged.dictionary
    if pc.count_distinct(values).as_py() != len(values):  # a writer's dictionary holding a value twice
        decoded = pd.Series(merged.dictionary_decode(), dtype="str")
        found, uniques = pd.factorize(decoded)
        return categorical(found, pd.Index(uniques, dtype="str"))
    at = pc.fill_null(merged.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    # each value's first row (the last assignment of a row reversed order wins); -1 lands past the values
    first = np.full(len(values) + 1, len(at), dtype=np.int64)
    first[at[::-1]] = np.arange(len(at) - 1, -1, -1)
    order = np.argsort(first[:-1], kind="stable")
    order = order[first[order] < len(at)]
    rank = np.full(len(values) + 1, -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return categorical(rank[at], pd.Index(values.take(pa.array(order)).to_pandas(), dtype="str"))


def read_events(path: Path) -> Cleaned:
    """Clean events from a file; bad rows become rejects, whole-file problems raise."""
    return clean_events(read_table(path), source=str(path))


def event_files(path: Path) -> list[Path]:
    """A file, or every .parquet and .csv file under a (partitioned) folder, in path order."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _EVENT_SUFFIXES)
    if not files:
        raise ContractError(f"{path}: the folder holds no .parquet or .csv files")
    return files


def read_events_from(paths: Sequence[Path]) -> Cleaned:
    """Clean events of several files or folders, one contract; each file's rejects name it."""
    cleaned = [read_events(file) for path in paths for file in event_files(path)]
    if len(cleaned) == 1:
        return cleaned[0]
    rejects = [c.rejects for c in cleaned if not c.rejects.empty]
    return Cleaned(
        frame=pd.concat([c.frame for c in cleaned], ignore_index=True),
        rejects=pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(),
    )


def read_posts(path: Path) -> Cleaned:
    """Clean posts from a file."""
    return clean_posts(read_table(path), source=str(path))


def read_campaigns(path: Path) -> Cleaned:
    """Clean campaigns from a file."""
    return clean_campaigns(read_table(path), source=str(path))


def with_categorical_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Id columns as categoricals of their distinct values in order of first appearance.

    Factorising the plain strings once is faster than asking Arrow for dictionary
    columns: those come in one dictionary per batch, which pandas then unifies.
    """
    for column in DICTIONARY_COLUMNS:
        if column in frame and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            codes, uniques = pd.factorize(frame[column])
            frame[column] = categorical(codes, pd.Index(uniques, dtype="str"))
    return frame


def write_parquet(frame: pd.DataFrame, path: Path, *, rows_per_group: int = 500_000) -> None:
    """Write a frame as Parquet without its index, creating the folder.

    Categorical columns are written as plain strings (decoded by Arrow, much
    faster than in pandas), as the contract promises. The frame goes to Arrow
    one row group of ``rows_per_group`` rows at a time, so that a large window's
    decoded strings never all sit in memory at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pyarrow reads a time-zoned column's ``.values`` (pandas deprecates that); the type
        # it infers keeps the zone
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        # one schema from the whole frame: a group whose text column is all empty still fits it
        inferred = pa.Schema.from_pandas(frame, preserve_index=False)
        schema = pa.schema(
            [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in inferred]
        )
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, max(len(frame), 1), rows_per_group):
                writer.write_table(_plain_table(frame.iloc[start : start + rows_per_group]).cast(schema))


def _plain_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with dictionary columns decoded and no pandas metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = [
        column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    # the pandas metadata would still call the decoded columns categorical
    return pa.table(columns, names=table.column_names).replace_schema_metadata(None)


def write_scored(scored: ScoredWindow, out_dir: Path, *, engagement_extra: tuple[str, ...] = ()) -> None:
    """Write a scored window's engagements, posts and accounts into ``out_dir`` as the contract says.

    ``engagement_extra`` names further engagement columns to keep (a detection run keeps ``ts``).
    """
    # lazy, as in ``features.contract``: pandera loads with the first check
    from features.schema import AccountFlags, EngagementVerdicts, PostDecisions, checked

    outputs = {
        "engagements": (engagements_output(scored.engagements, extra=engagement_extra), EngagementVerdicts),
        "posts": (posts_output(scored.posts), PostDecisions),
        "accounts": (accounts_output(scored.accounts), AccountFlags),
    }
    for name, (frame, model) in outputs.items():
        # the contract's output models, checked where the verdicts leave for billing
        write_parquet(checked(frame, model, where=f"{name}.parquet"), out_dir / f"{name}.parquet")


def engagements_output(engagements: pd.DataFrame, *, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The contract's engagements.parquet columns (plus additive extras, and ``extra``)."""
    return _plain(engagements[list(ENGAGEMENT_COLUMNS + ENGAGEMENT_EXTRA + extra)])


def posts_output(posts: pd.DataFrame) -> pd.DataFrame:
    """The contract's posts.parquet columns (plus additive extras)."""
    return _plain(posts[list(POST_COLUMNS + POST_EXTRA)])


def accounts_output(accounts: pd.DataFrame) -> pd.DataFrame:
    """The contract's accounts.parquet columns."""
    return _plain(accounts[list(ACCOUNT_COLUMNS)])


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a fresh index; ``write_parquet`` writes its categoricals as plain strings."""
    return frame.reset_index(drop=True)


def event_rows(events: pd.DataFrame) -> list[dict[str, Any]]:
    """Contract events as JSON-ready rows, the body of ``POST /v1/events`` (ISO-8601 UTC times)."""
    out = events.copy()
    for column in ("ts", "user_created_at"):
        out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out["user_followers"] = out["user_followers"].astype("float64")
    records: list[dict[str, Any]] = out.astype(object).where(out.notna(), None).to_dict(orient="records")  # type: ignore[assignment]
    for record in records:
        if record["user_followers"] is not None:
            record["user_followers"] = int(record["user_followers"])
    return records
