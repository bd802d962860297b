"""Coerce raw contract frames into clean ones: whole-file errors raise, bad rows are rejected.

Pure functions: a raw frame (as read from Parquet or CSV) and the name of its
source in, clean frame plus rejected rows out. Reading files is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from features.columns import (
    CAMPAIGN_OPTIONAL,
    CAMPAIGN_REQUIRED,
    COUNT_LIMIT,
    EVENT_OPTIONAL,
    EVENT_REQUIRED,
    MAX_PRICE,
    POST_OPTIONAL,
    POST_REQUIRED,
    TS_DTYPE,
    TS_MAX,
    TS_MIN,
)
from features.ids import id_reasons

if TYPE_CHECKING:
    from pandera.pandas import DataFrameModel

Kind = Literal["id", "str", "ts", "count", "price"]

_EVENT_KINDS: dict[str, Kind] = {
    "event_id": "id",
    "platform": "id",
    "campaign_id": "id",
    "post_id": "id",
    "creator_id": "id",
    "user_id": "id",
    "action": "id",
    "ts": "ts",
    "device_id": "str",
    "ip": "str",
    "user_created_at": "ts",
    "user_followers": "count",
    "comment_text": "str",
}
_POST_KINDS: dict[str, Kind] = {
    "post_id": "id",
    "creator_id": "id",
    "campaign_id": "id",
    "platform": "id",
    "published_at": "ts",
    "views": "count",
    "studio_id": "str",
}
_CAMPAIGN_KINDS: dict[str, Kind] = {
    "campaign_id": "id",
    "currency": "id",
    "price_like": "price",
    "price_favorite": "price",
    "price_comment": "price",
    "price_share": "price",
    "window_start": "ts",
    "window_end": "ts",
}
_REJECT_COLUMNS = ("source_file", "source_row", "column", "reason", "value")
_SHOWN_CHARS = 200  # a rejected value is shown cut to this many characters


class ContractError(ValueError):
    """A whole input file breaks the data contract (unreadable, missing column, wrong type)."""


@dataclass(frozen=True)
class Cleaned:
    """A clean frame, the rows rejected from it, and the optional columns it lacks."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    missing_optional: tuple[str, ...] = field(default_factory=tuple)


def empty_rejects() -> pd.DataFrame:
    """A rejects frame with no rows."""
    return pd.DataFrame(
        {
            "source_file": pd.Series(dtype="str"),
            "source_row": pd.Series(dtype="int64"),
            "column": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "value": pd.Series(dtype="str"),
        }
    )


def clean_events(raw: pd.DataFrame, *, source: str) -> Cleaned:
    """Clean engagement events; adds ``source_row`` (1-based data row in the file)."""
    from features.schema import Events  # lazy, as every contract model here (``_checked``)

    cleaned = _clean(raw, source=source, required=EVENT_REQUIRED, optional=EVENT_OPTIONAL, kinds=_EVENT_KINDS)
    frame = cleaned.frame
    for column in ("action", "platform"):
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            lowered = pd.Series(values.cat.categories.astype("str")).str.lower()
            new_codes, categories = pd.factorize(lowered)
            row_codes = values.cat.codes.to_numpy()
            mapped = np.where(row_codes >= 0, new_codes[np.maximum(row_codes, 0)], -1)
            frame[column] = pd.Categorical.from_codes(mapped, categories=pd.Index(categories, dtype="str"))
        else:
            frame[column] = values.str.lower()
    return _checked(cleaned, Events, source=source)


def clean_posts(raw: pd.DataFrame, *, source: str) -> Cleaned:
    """Clean posts; a post_id given twice keeps its first row and rejects the others."""
    from features.schema import Posts

    cleaned = _clean(raw, source=source, required=POST_REQUIRED, optional=POST_OPTIONAL, kinds=_POST_KINDS)
    return _checked(_reject_repeated_keys(cleaned, key="post_id", source=source), Posts, source=source)


def clean_campaigns(raw: pd.DataFrame, *, source: str) -> Cleaned:
    """Clean campaigns; a campaign_id given twice keeps its first row and rejects the others."""
    from features.schema import Campaigns

    cleaned = _clean(
        raw, source=source, required=CAMPAIGN_REQUIRED, optional=CAMPAIGN_OPTIONAL, kinds=_CAMPAIGN_KINDS
    )
    return _checked(
        _reject_repeated_keys(cleaned, key="campaign_id", source=source), Campaigns, source=source
    )


def _checked(cleaned: Cleaned, model: type[DataFrameModel], *, source: str) -> Cleaned:
    """The cleaned frame and its rejects, checked against the contract before they leave this package.

    The contract's pandera models load with the first check, not with this module: pandera costs
    0.15 s of import, which scoring pays in a thread while it reads its files (``cpeguard.scoring``).
    """
    from features.schema import Rejects, checked

    checked(cleaned.frame, model, where=source)
    checked(cleaned.rejects, Rejects, where=f"{source} rejects")
    return cleaned


def _clean(
    raw: pd.DataFrame,
    *,
    source: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    kinds: dict[str, Kind],
) -> Cleaned:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ContractError(f"{source}: missing required column {', '.join(repr(c) for c in missing)}")
    n = len(raw)
    source_row = np.arange(1, n + 1, dtype=np.int64)
    out: dict[str, pd.Series] = {}
    bad = np.zeros(n, dtype=bool)
    problems: list[pd.DataFrame] = []
    absent = tuple(c for c in optional if c not in raw.columns)
    for column in (*required, *optional):
        kind = kinds[column]
        if column in absent:
            out[column] = _null_column(kind, n)
            continue
        values, reason = _coerce(
            raw[column].reset_index(drop=True),
            kind=kind,
            source=source,
            column=column,
            is_required=column in required,
        )
        out[column] = values
        is_bad = ~pd.isna(reason)
        if is_bad.any():
            bad |= is_bad
            problems.append(
                pd.DataFrame(
                    {
                        "source_file": source,
                        "source_row": source_row[is_bad],
                        "column": column,
                        "reason": reason[is_bad],
                        "value": _shown(raw[column].reset_index(drop=True)[is_bad]),
                    }
                )
            )
    frame = pd.DataFrame(out)
    extra = [c for c in raw.columns if c not in frame.columns]
    for column in extra:
        frame[column] = raw[column].reset_index(drop=True)
    frame["source_row"] = source_row
    rejects = (
        pd.concat(problems, ignore_index=True).sort_values(
            ["source_row", "column"], kind="stable", ignore_index=True
        )
        if problems
        else empty_rejects()
    )
    return Cleaned(frame=frame.loc[~bad].reset_index(drop=True), rejects=rejects, missing_optional=absent)


def _null_column(kind: Kind, n: int) -> pd.Series:
    if kind == "ts":
        return pd.Series(pd.NaT, index=range(n), dtype=TS_DTYPE)
    if kind == "count":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if kind == "price":
        return pd.Series(np.nan, index=range(n), dtype="float64")
    return pd.Series(None, index=range(n), dtype="str")


def _coerce(
    values: pd.Series, *, kind: Kind, source: str, column: str, is_required: bool
) -> tuple[pd.Series, npt.NDArray[np.object_]]:
    """Coerce one column; return the values and a per-row reason (None where fine)."""
    is_null = values.isna().to_numpy()
    # a plain object array: setting a few reasons in a million-row string Series copies it each time
    reason: npt.NDArray[np.object_] = np.full(len(values), None, dtype=object)
    if kind in ("id", "str") and isinstance(values.dtype, pd.CategoricalDtype):
        return _coerce_categorical(values, kind=kind, column=column, reason=reason)
    if kind in ("id", "str"):
        text = values.astype("str").str.strip() if len(values) else values.astype("str")
        text = text.where(~is_null)
        if kind == "id":
            is_empty = is_null | (text.str.len().fillna(0).to_numpy() == 0)
            reason[is_empty] = f"empty {column}"
            invalid = id_reasons(pa.array(text), column=column)
            reason[~is_empty] = invalid[~is_empty]
        return text, reason
    if kind == "ts":
        parsed = _to_timestamps(values, source=source, column=column)
        failed = parsed.isna().to_numpy() & ~is_null
        _refuse_if_all_failed(failed, is_null, source=source, column=column, what="timestamp")
        reason[failed] = "unparseable timestamp"
        outside = ((parsed < TS_MIN) | (parsed >= TS_MAX)).fillna(False).to_numpy()
        reason[outside] = f"{column} outside {TS_MIN:%Y-%m-%d} .. {TS_MAX:%Y-%m-%d}"
        if is_required:
            reason[is_null] = f"empty {column}"
        return parsed, reason
    numbers = pd.to_numeric(values, errors="coerce")
    failed = numbers.isna().to_numpy() & ~is_null
    _refuse_if_all_failed(failed, is_null, source=source, column=column, what="number")
    reason[failed] = "not a number"
    if is_required:
        reason[is_null] = f"empty {column}"
    negative = (numbers < 0).fillna(False).to_numpy()
    reason[negative] = f"negative {column}"
    if kind == "count":
        too_large = (numbers >= COUNT_LIMIT).fillna(False).to_numpy()
        reason[too_large] = f"{column} is 2^63 or more"
        fractional = (numbers.notna() & (numbers % 1 != 0)).to_numpy() & ~too_large
        reason[fractional] = f"{column} is not a whole number"
        numbers = _counts(numbers, bad=fractional | too_large | negative, too_large=too_large)
    else:
        too_large = (numbers > MAX_PRICE).fillna(False).to_numpy()
        reason[too_large] = f"{column} is above {MAX_PRICE}"
        numbers = numbers.astype("float64")
    return numbers, reason


def _counts(numbers: pd.Series, *, bad: npt.NDArray[np.bool_], too_large: npt.NDArray[np.bool_]) -> pd.Series:
    """Whole numbers as Int64, NA on rejected rows (whose values may not fit 64 bits)."""
    if numbers.dtype.kind in "iu":
        # integers stay exact: a uint64 column through float would round 2^63 - 1 up to 2^63
        return numbers.where(~too_large, 0).astype("Int64").where(~bad)
    return numbers.where(~bad).round().astype("Int64")


def _coerce_categorical(
    values: pd.Series, *, kind: Kind, column: str, reason: npt.NDArray[np.object_]
) -> tuple[pd.Series, npt.NDArray[np.object_]]:
    """Strip a dictionary-encoded text column through its categories, not its rows."""
    original = pd.Series(values.cat.categories.astype("str"))
    stripped = original.str.strip()
    is_clean = bool((stripped.str.len() > 0).all()) and bool((stripped == original).all())
    if is_clean:
        if kind == "id":
            codes = values.cat.codes.to_numpy()
            reason[codes < 0] = f"empty {column}"
            _reject_bad_categories(reason, codes, pa.array(original), column=column)
        return values, reason
    new_codes, categories = pd.factorize(stripped)
    row_codes = values.cat.codes.to_numpy()
    mapped = np.where(row_codes >= 0, new_codes[np.maximum(row_codes, 0)], -1)
    is_blank = np.zeros(len(categories) + 1, dtype=bool)
    is_blank[:-1] = pd.Series(categories).str.len().to_numpy() == 0
    is_empty = (mapped < 0) | is_blank[np.where(mapped >= 0, mapped, len(categories))]
    if kind == "id":
        reason[is_empty] = f"empty {column}"
        _reject_bad_categories(reason, mapped, pa.array(pd.Series(categories, dtype="str")), column=column)
    mapped = np.where(is_empty, -1, mapped)
    text = pd.Series(
        pd.Categorical.from_codes(mapped, categories=pd.Index(categories, dtype="str")), index=values.index
    )
    return text, reason


def _reject_bad_categories(
    reason: npt.NDArray[np.object_], codes: npt.NDArray[np.integer], categories: pa.Array, *, column: str
) -> None:
    """Set the reason of every row whose category cannot be an id: checked once per category."""
    by_category = id_reasons(categories, column=column)
    bad = np.flatnonzero(pd.notna(by_category))
    if len(bad):
        rows = np.isin(codes, bad)
        reason[rows] = by_category[codes[rows]]


def _shown(values: pd.Series) -> npt.NDArray[np.object_]:
    """Rejected values as text for a report: unprintable characters escaped, long ones cut."""
    text = values.astype("str")
    return np.array([v if pd.isna(v) else _printable(v)[:_SHOWN_CHARS] for v in text], dtype=object)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def _to_timestamps(values: pd.Series, *, source: str, column: str) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TS_DTYPE)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype(TS_DTYPE)
    if pd.api.types.is_numeric_dtype(values.dtype) and not values.isna().all():
        raise ContractError(
            f"{source}: column {column!r} holds numbers ({values.dtype}), not timestamps; "
            "write ISO 8601 strings or a timestamp type"
        )
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return parsed.astype(TS_DTYPE)


def _refuse_if_all_failed(
    failed: np.ndarray, is_null: np.ndarray, *, source: str, column: str, what: str
) -> None:
    present = int((~is_null).sum())
    if present >= 3 and int(failed.sum()) == present:
        raise ContractError(f"{source}: column {column!r} cannot be read as a {what} in any row")


def _reject_repeated_keys(cleaned: Cleaned, *, key: str, source: str) -> Cleaned:
    frame = cleaned.frame
    repeated = frame[key].duplicated(keep="first").to_numpy()
    if not repeated.any():
        return cleaned
    extra = pd.DataFrame(
        {
            "source_file": source,
            "source_row": frame.loc[repeated, "source_row"].to_numpy(),
            "column": key,
            "reason": f"repeated {key}",
            "value": frame.loc[repeated, key].to_numpy(),
        }
    )
    rejects = pd.concat([cleaned.rejects, extra], ignore_index=True)
    return Cleaned(
        frame=frame.loc[~repeated].reset_index(drop=True),
        rejects=rejects,
        missing_optional=cleaned.missing_optional,
    )
