"""The reputation file: what earlier runs and reviews established, for batch scoring (docs/reputation.md).

One row per entry in ``detectors.reputation.ENTRY_COLUMNS``; ``platform`` and
``detail`` may be left out or empty. The service exports its memory in this
form (``cpeguard reputation export``) and ``cpeguard score --reputation`` reads
it. Any bad value refuses the whole file, naming file, column and row (rows
count from 1, the header not counted, as the events contract does): a
reputation silently half-read would change verdicts without saying so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from detectors.reputation import CLEARED, CONFIRMED, ENTRY_COLUMNS, SUBJECT_KINDS
from features.contract import ContractError
from serving.io import read_table, write_parquet

OPTIONAL = ("platform", "detail")
ALLOWED: dict[str, tuple[str, ...]] = {
    "subject_kind": tuple(SUBJECT_KINDS),
    "state": (CONFIRMED, CLEARED),
    "source_kind": ("run", "case"),
}


def read_reputation(path: Path) -> pd.DataFrame:
    """The entries of a reputation file (``ENTRY_COLUMNS``, established_at in UTC); ContractError on any
    bad value, naming the file, the column and the row."""
    raw = read_table(path)
    missing = [c for c in ENTRY_COLUMNS if c not in raw and c not in OPTIONAL]
    if missing:
        raise ContractError(f"{path}: missing required column {', '.join(repr(c) for c in missing)}")
    frame = pd.DataFrame(index=raw.index)
    for column in ENTRY_COLUMNS:
        if column not in raw:
            frame[column] = ""
            continue
        values = raw[column].astype("object")
        empty = values.isna() | (values.astype("str").str.strip() == "")
        if column in OPTIONAL:
            frame[column] = values.where(~empty, "").astype("str")
            continue
        _refuse(path, column, empty, "is empty")
        frame[column] = values
    for column, allowed in ALLOWED.items():
        frame[column] = frame[column].astype("str").str.strip()
        _refuse(path, column, ~frame[column].isin(allowed), f"is not one of {', '.join(allowed)}")
    frame["subject_id"] = frame["subject_id"].astype("str")
    frame["source_id"] = frame["source_id"].astype("str")
    frame["established_at"] = _timestamps(path, raw["established_at"])
    return frame.reset_index(drop=True)


def _timestamps(path: Path, values: pd.Series) -> pd.Series:
    """``established_at`` in UTC (a time without a zone is read as UTC)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(values.astype("str"), utc=True, errors="coerce", format="ISO8601")
    _refuse(path, "established_at", parsed.isna(), "is not an ISO 8601 time")
    return parsed


def _refuse(path: Path, column: str, bad: pd.Series, problem: str) -> None:
    """ContractError naming the first bad row (1-based) and how many there are."""
    rows = [i for i, is_bad in enumerate(bad.to_numpy(), start=1) if is_bad]
    if not rows:
        return
    more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    raise ContractError(f"{path}: column {column!r}, row {rows[0]}: value {problem}{more}")


def write_reputation(entries: pd.DataFrame, path: Path) -> None:
    """Write entries as a reputation file: .csv (ISO 8601 times) or .parquet."""
    frame = entries[list(ENTRY_COLUMNS)]
    if path.suffix.lower() == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        times = pd.to_datetime(frame["established_at"], utc=True)
        frame.assign(established_at=times.map(lambda t: t.isoformat())).to_csv(path, index=False)
        return
    write_parquet(frame, path)


__all__ = ["read_reputation", "write_reputation"]
