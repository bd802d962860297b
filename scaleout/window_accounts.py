"""The window's account features gathered over its shards, and the anomaly model fitted once on them.

The ``anomaly`` detector fits its ensemble on the window's accounts (``detectors.anomaly``);
fitted on each shard's, an account's score depended on the cut. Account features are not
shard-local: an account of a split platform engages in several shards, and the accounts
sharing a device, an IP (across platforms too) or a comment text are counted over the window.
So a pass over the shards gives the few columns the features read (``account_rows``) of every
valid row the detector reads (the window's own, ``anomaly_rows``); Spark counts the window's
accounts per device, IP and normalised text, joins the counts to the rows and groups the rows by account
(``account_rows_features``: ``features.account_features`` on all of an account's rows, with the
window's counts). The driver orders the accounts as the single process finds them (by their
first row: the window's rows in file order, then history's) and finds the unusual accounts
with the single process's function (``detectors.registry.anomalous_accounts``); every shard
reads them (``WindowChance.anomaly``) instead of fitting its own model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.anomaly import NAME as ANOMALY
from detectors.fitted import STACKED_FEATURES
from detectors.history import history_rows
from detectors.registry import BY_NAME, anomalous_accounts
from features.account_features import (
    ACCOUNT_FEATURES,
    TRIPLE_WITHIN_S,
    WindowSharing,
    account_features,
    comment_texts,
)
from features.timing import action_triples, publication_times

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from scaleout.shard_scoring import ShardInputs

# the id columns of an account row, and its times in microseconds since the epoch (UTC, not a session zone)
ROW_IDS = ("user_id", "post_id", "creator_id", "campaign_id", "action", "device_id", "ip", "comment_text")
ROW_TIMES = ("ts_us", "created_us", "published_us")
# where an account first comes in the single process's window: history (1) after the window's rows
# (0), then by its row in its source file
ORDER = ("first_is_history", "first_row")
# per shared value: the window's accounts using it (joined to every row by Spark)
SHARED = {"device_id": "device_n", "ip": "ip_n", "comment_text": "text_n"}
_ROWS_DDL = ", ".join(
    [
        *(f"`{c}` string" for c in ROW_IDS),
        *(f"`{c}` long" for c in ROW_TIMES),
        "followers long, is_history boolean, source_row long",
    ]
)
_FEATURES_DDL = ", ".join(
    ["user_id string", *(f"`{c}` long" for c in ORDER), *(f"`{c}` double" for c in ACCOUNT_FEATURES)]
)


def anomaly_rows(engagements: pd.DataFrame) -> pd.DataFrame:
    """The rows of a shard the anomaly detector reads: the window's own, not history's (it judges the
    window's accounts against the window, ``DetectorSpec.history``), as the scorer's view gives them."""
    is_history = history_rows(engagements)
    if BY_NAME[ANOMALY].history or is_history is None:
        return engagements
    return engagements.loc[~is_history].reset_index(drop=True)


def account_rows(engagements: pd.DataFrame, posts: pd.DataFrame | None) -> pd.DataFrame:
    """Per distinct engagement of a shard (window and history, as the scorer sees them): what the
    account features read, comment texts normalised (``comment_texts``) and its post's publication."""
    n = len(engagements)
    texts, uniques = comment_texts(engagements)
    published = publication_times(engagements, posts).reindex(engagements["post_id"])
    is_history = history_rows(engagements)
    followers = engagements["user_followers"] if "user_followers" in engagements else pd.Series([pd.NA] * n)
    frame = pd.DataFrame(
        {c: _strings(engagements[c]) if c in engagements else None for c in ROW_IDS if c != "comment_text"}
    )
    frame["comment_text"] = np.append(uniques.to_numpy(dtype=object), np.array([None], dtype=object))[texts]
    frame["ts_us"] = microseconds(engagements["ts"])
    created = engagements["user_created_at"] if "user_created_at" in engagements else pd.Series([pd.NaT] * n)
    frame["created_us"] = microseconds(created)
    frame["published_us"] = microseconds(published)
    frame["followers"] = pd.array(followers.to_numpy(), dtype="Int64")
    frame["is_history"] = is_history if is_history is not None else np.zeros(n, dtype=bool)
    frame["source_row"] = engagements["source_row"].to_numpy(dtype=np.int64)
    return frame[[*ROW_IDS, *ROW_TIMES, "followers", "is_history", "source_row"]]


def account_rows_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Per account of ``rows`` (every row of each of their accounts, with the window's ``SHARED``
    counts): ``features.account_features`` and where the account first comes (``ORDER``)."""
    if not len(rows):
        return pd.DataFrame(columns=["user_id", *ORDER, *ACCOUNT_FEATURES])
    engagements = pd.DataFrame({c: rows[c].astype(object) for c in ROW_IDS})
    engagements["ts"] = utc_times(rows["ts_us"])
    engagements["user_created_at"] = utc_times(rows["created_us"])
    engagements["user_followers"] = rows["followers"].astype("Int64")
    published = pd.Series(utc_times(rows["published_us"]).to_numpy(), index=engagements["post_id"])
    published = published[~published.index.duplicated()]
    sharing = WindowSharing(*(_per_value(rows, column, n) for column, n in SHARED.items()))
    is_triple = action_triples(engagements, within_s=TRIPLE_WITHIN_S)
    found = account_features(engagements, published, is_triple=is_triple, sharing=sharing)
    first = (
        rows.assign(is_history=rows["is_history"].astype(np.int64))
        .sort_values(["is_history", "source_row"], kind="stable")
        .drop_duplicates("user_id")
        .set_index("user_id")
    )
    out = found.astype("float64").reset_index()
    out["user_id"] = out["user_id"].astype(object)
    out[ORDER[0]] = first["is_history"].reindex(out["user_id"]).to_numpy(dtype=np.int64)
    out[ORDER[1]] = first["source_row"].reindex(out["user_id"]).to_numpy(dtype=np.int64)
    return out[["user_id", *ORDER, *ACCOUNT_FEATURES]]


def window_features(found: pd.DataFrame) -> pd.DataFrame:
    """The window's account features from every account's row (``account_rows_features``), in the
    order the single process finds the accounts (index ``user_id``)."""
    ordered = found.sort_values([*ORDER, "user_id"], kind="stable", ignore_index=True)
    return ordered.set_index(pd.Index(ordered["user_id"].astype("str"), name="user_id"))[
        list(ACCOUNT_FEATURES)
    ]


def window_account_features(
    routed: DataFrame,
    *,
    inputs: ShardInputs,
    buckets: int,
    rows_of: Callable[[pd.DataFrame], pd.DataFrame] = anomaly_rows,
) -> pd.DataFrame:
    """The window's account features (``window_features``) over the rows ``rows_of`` keeps of each
    shard's engagements (the anomaly detector's, or all the scorer's context reads): a pass over the
    shards' rows, the window's accounts per shared value counted and joined, the rows grouped into
    ``buckets`` by account, every account's features collected on the driver."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from scaleout.shard_scoring import SHARD

    def shard_rows(raw: pd.DataFrame) -> pd.DataFrame:
        engagements = rows_of(inputs.rows(raw).engagements())
        return account_rows(engagements, inputs.posts_of(engagements)) if len(engagements) else _no_rows()

    rows = routed.groupBy(SHARD).applyInPandas(shard_rows, _ROWS_DDL).persist(StorageLevel.DISK_ONLY)
    joined = rows
    for column, name in SHARED.items():
        pairs = rows.filter(F.col(column).isNotNull()).select(column, "user_id").distinct()
        joined = joined.join(pairs.groupBy(column).agg(F.count("*").alias(name)), column, "left")
    bucket = F.pmod(F.hash("user_id"), F.lit(max(buckets, 1)))
    features = (
        joined.withColumn("_bucket", bucket)
        .groupBy("_bucket")
        .applyInPandas(lambda part: account_rows_features(part.drop(columns="_bucket")), _FEATURES_DDL)
        .toPandas()
    )
    rows.unpersist()
    return window_features(features)


def with_window_accounts(routed: DataFrame, *, inputs: ShardInputs, buckets: int) -> ShardInputs:
    """``inputs`` with what the window's accounts show every shard: the unusual accounts (the anomaly
    model run once on the window's account features, unless ``anomaly`` is disabled) and, for a
    scorer with a supervised stacker, the account features it reads (``STACKED_FEATURES`` over every
    row the scorer's context holds: with history, the window's and history's)."""
    fitted = inputs.scorer.fitted
    stacker = fitted is not None and fitted.stacker is not None
    features = None
    if ANOMALY not in inputs.scorer.params.disabled:
        features = window_account_features(routed, inputs=inputs, buckets=buckets)
        params = inputs.scorer.params
        inputs = replace(inputs, anomaly=anomalous_accounts(features, params.detectors.anomaly, fitted))
    if not stacker:
        return inputs
    if features is None or inputs.history:  # the anomaly detector reads the window's rows only
        features = window_account_features(routed, inputs=inputs, buckets=buckets, rows_of=_every_row)
    return replace(inputs, stacked=features[list(STACKED_FEATURES)])


def _every_row(engagements: pd.DataFrame) -> pd.DataFrame:
    return engagements


def _per_value(rows: pd.DataFrame, column: str, counted: str) -> pd.Series:
    """Per value of ``column`` in ``rows``: the window's accounts using it (the ``counted`` column)."""
    has = rows[column].notna()
    values = pd.Series(
        rows.loc[has, counted].to_numpy(dtype=np.float64), index=rows.loc[has, column].astype("str")
    )
    return values[~values.index.duplicated()]


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=[*ROW_IDS, *ROW_TIMES, "followers", "is_history", "source_row"])


def _strings(values: pd.Series) -> npt.NDArray[np.object_]:
    """A column as Python strings, None where missing (as Spark takes a string column)."""
    out = values.astype("str").to_numpy(dtype=object)
    out[values.isna().to_numpy()] = None
    return out


def microseconds(times: pd.Series) -> pd.Series:
    """Timestamps as microseconds since the epoch (nullable)."""
    values = pd.Series(times.to_numpy(dtype="datetime64[us]").astype(np.int64))
    return values.astype("Int64").mask(pd.Series(times.isna().to_numpy()))


def utc_times(since_epoch_us: pd.Series) -> pd.Series:
    """Microseconds since the epoch as UTC timestamps (NaT where missing)."""
    values = since_epoch_us.astype("Int64")
    return pd.to_datetime(values, unit="us", utc=True).astype("datetime64[us, UTC]").reset_index(drop=True)
