"""A post's own addresses on a platform split along its graph, found once on the platform's events.

An address is a post's own when its whole life in the window and its history is thin accounts on that
one post (``detectors.post_only_ips``); a graph split may put the address's other posts, or its
accounts' other posts, in another shard, so no shard can tell alone. Each of a split platform's shards
gives its rows of the columns the rule reads (``shard_address_rows``), one worker per platform finds
the own addresses of its posts beyond chance on them as the single process finds them
(``platform_post_only``), and every shard raises its engagements through them
(``WindowChance.post_only``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from detectors.post_only_ips import POST_ONLY_COLUMNS, post_only_addresses
from scaleout.shard_scoring import SHARD, ShardInputs
from serving.io import with_categorical_ids

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ADDRESS_COLUMNS = ("platform", "ip", "user_id", "post_id", "creator_id")
_ADDRESS_DDL = ", ".join(f"`{c}` string" for c in ADDRESS_COLUMNS) + ", `ts` timestamp"
_FOUND_DDL = "platform string, ip string, post_id string, addresses double, expected double"


def shard_address_rows(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """A shard's engagements with history as the rule reads them (``ADDRESS_COLUMNS`` as strings,
    missing values null, and ``ts``)."""
    engagements = inputs.rows(raw).engagements()
    empty = pd.Series(None, index=engagements.index, dtype=object)
    out = {}
    for column in ADDRESS_COLUMNS:
        values = engagements.get(column, empty)
        out[column] = values.astype("str").astype(object).where(values.notna().to_numpy(), None).to_numpy()
    ts = engagements["ts"] if "ts" in engagements else pd.Series(pd.NaT, index=engagements.index)
    out["ts"] = pd.to_datetime(ts, utc=True).to_numpy()
    return pd.DataFrame(out, columns=[*ADDRESS_COLUMNS, "ts"])


def platform_post_only(rows: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The own addresses of one platform's posts, from its rows of all its shards (``POST_ONLY_COLUMNS``).

    The creators are the single process's: the posts table's and the split platforms' (``_creators``
    of ``detectors.scorer.detections``)."""
    if not len(rows):
        return pd.DataFrame(columns=list(POST_ONLY_COLUMNS))
    frame = with_categorical_ids(rows.reset_index(drop=True))
    posts = inputs.posts
    creators = pd.Index(posts["creator_id"].dropna().unique()).astype("str") if posts is not None else None
    if inputs.creators is not None:
        creators = inputs.creators if creators is None else creators.union(inputs.creators.astype("str"))
    return post_only_addresses(frame, params=inputs.scorer.params.spread, creators=creators)


def post_only_per_platform(routed: DataFrame, split: list[str], *, inputs: ShardInputs) -> pd.DataFrame:
    """Per platform split along its graph: the own addresses of its posts, found on its whole events.
    One worker holds one platform's (five ids and a time per event)."""
    from pyspark.sql import functions as F

    rows = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_address_rows(raw, inputs=inputs), _ADDRESS_DDL)
    )
    found = rows.groupBy("platform").applyInPandas(
        lambda part: platform_post_only(part, inputs=inputs), _FOUND_DDL
    )
    return found.toPandas()[list(POST_ONLY_COLUMNS)]
