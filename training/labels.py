"""Review verdicts as training labels: account_id, label (1 fraud / 0 clean), decided_at."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

LABEL_COLUMNS = ("account_id", "label", "decided_at")


def read_labels(path: Path) -> pd.DataFrame:
    """Verdicts from a Parquet or CSV file; a clear error naming the file, column and row."""
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read labels ({error})") from None
    return clean_labels(raw, source=str(path))


def clean_labels(raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Verdicts checked and typed: account_id str, label 0/1, decided_at UTC (extra columns kept)."""
    missing = [c for c in LABEL_COLUMNS if c not in raw]
    if missing:
        raise ValueError(f"{source}: missing column {', '.join(missing)} (need {', '.join(LABEL_COLUMNS)})")
    out = raw.copy()
    out["account_id"] = out["account_id"].astype("str")
    label = pd.to_numeric(out["label"], errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 1
        raise ValueError(
            f"{source}: column label must be 0 or 1; row {row} has {raw['label'].iloc[row - 1]!r}"
        )
    out["label"] = label.astype("int64")
    decided = pd.to_datetime(out["decided_at"], utc=True, errors="coerce")
    if decided.isna().any():
        row = int(decided.isna().to_numpy().argmax()) + 1
        value = raw["decided_at"].iloc[row - 1]
        raise ValueError(f"{source}: column decided_at is not a timestamp in row {row} ({value!r})")
    out["decided_at"] = decided
    return out
