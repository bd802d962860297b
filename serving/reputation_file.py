"""The reputation file: what earlier runs and reviews established, for batch scoring (docs/reputation.md).

One row per entry in ``detectors.reputation.ENTRY_COLUMNS``; ``platform`` and
``detail`` may be left out or empty. The service exports its memory in this
form (``cpeguard reputation export``) and ``cpeguard score --reputation`` reads
it. As the events contract does, a file that cannot be read or lacks a required
column is refused whole (``ContractError``), and a bad row is rejected and
reported (file, row counting from 1 after the header, column, reason, value)
while the good rows are kept: nothing is read silently half-way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from detectors.reputation import CLEARED, CONFIRMED, ENTRY_COLUMNS, SUBJECT_KINDS
from features.contract import Cleaned, ContractError, empty_rejects
from serving.io import read_table, write_parquet

OPTIONAL = ("platform", "detail")
ALLOWED: dict[str, tuple[str, ...]] = {
    "subject_kind": tuple(SUBJECT_KINDS),
    "state": (CONFIRMED, CLEARED),
    "source_kind": ("run", "case"),
}
_SHOWN_CHARS = 200  # a rejected value is shown cut to this many characters, as the events contract does


def read_reputation(path: Path) -> Cleaned:
    """The entries of a reputation file (``ENTRY_COLUMNS``, established_at in UTC) and its rejected rows.

    ContractError when the file cannot be read or lacks a required column; a row
    with an empty required value, a value outside its allowed set or a time that
    is not ISO 8601 is rejected, one reject per bad value.
    """
    from features.schema import Rejects, checked  # lazy, as in ``features.contract``

    raw = read_table(path).reset_index(drop=True)
    missing = [c for c in ENTRY_COLUMNS if c not in raw and c not in OPTIONAL]
    if missing:
        raise ContractError(f"{path}: missing required column {', '.join(repr(c) for c in missing)}")
    frame = pd.DataFrame(index=raw.index)
    problems: list[pd.DataFrame] = []
    for column in ENTRY_COLUMNS:
        if column not in raw:
            frame[column] = ""
            continue
        values = raw[column].astype("object")
        empty = _is_empty(values)
        if column in OPTIONAL:
            frame[column] = values.where(~empty, "").astype("str")
            continue
        problems.append(_rejects(path, raw[column], empty, f"empty {column}"))
        frame[column] = values.astype("str").str.strip() if column in ALLOWED else values
    for column, allowed in ALLOWED.items():
        outside = (~frame[column].isin(allowed)).to_numpy() & ~_is_empty(raw[column])
        problems.append(_rejects(path, raw[column], outside, f"{column} is not one of {', '.join(allowed)}"))
    frame["subject_id"] = frame["subject_id"].astype("str")
    frame["source_id"] = frame["source_id"].astype("str")
    frame["established_at"] = _timestamps(raw["established_at"])
    failed = frame["established_at"].isna().to_numpy() & ~_is_empty(raw["established_at"])
    problems.append(_rejects(path, raw["established_at"], failed, "established_at is not an ISO 8601 time"))
    rejects = pd.concat([p for p in problems if not p.empty] or [empty_rejects()], ignore_index=True)
    rejects = rejects.sort_values(["source_row", "column"], kind="stable", ignore_index=True)
    checked(rejects, Rejects, where=f"{path} rejects")
    bad = np.isin(np.arange(1, len(raw) + 1), rejects["source_row"].to_numpy())
    return Cleaned(frame=frame.loc[~bad].reset_index(drop=True), rejects=rejects)


def _is_empty(values: pd.Series) -> np.ndarray:
    """Per row: no value (an empty one is rejected once, as empty)."""
    text = values.astype("object")
    return (text.isna() | (text.astype("str").str.strip() == "")).to_numpy()


def _timestamps(values: pd.Series) -> pd.Series:
    """``established_at`` in UTC (a time without a zone is read as UTC; NaT: not a time)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    return pd.to_datetime(values.astype("str"), utc=True, errors="coerce", format="ISO8601")


def _rejects(path: Path, values: pd.Series, bad: np.ndarray, reason: str) -> pd.DataFrame:
    """One reject per bad row of one column, in the events contract's reject columns."""
    rows = np.flatnonzero(bad)
    shown = values.iloc[rows].astype("object")
    return pd.DataFrame(
        {
            "source_file": pd.Series(str(path), index=range(len(rows)), dtype="str"),
            "source_row": (rows + 1).astype(np.int64),
            "column": pd.Series(str(values.name), index=range(len(rows)), dtype="str"),
            "reason": pd.Series(reason, index=range(len(rows)), dtype="str"),
            "value": pd.Series([None if pd.isna(v) else str(v)[:_SHOWN_CHARS] for v in shown], dtype="str"),
        }
    )


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
