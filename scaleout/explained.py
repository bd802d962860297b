"""What a split platform's per-platform tests read of other detectors: the accounts they found.

The pool test's chance leaves out the accounts lockstep found in a group (``PoolParams.
chance_without_explained``). On one machine the pool runs after lockstep in the same scoring run
(``DetectorSpec.after``). A platform split along its graph is pool-tested once, whole
(``scaleout.shard_scoring.platform_models``), before its shards are scored: a pass runs only the
detectors it reads on each of its shards, as the shard's scorer will run them (with the window's
lockstep statistics), and hands their accounts to the platform's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from detectors.chance import window_chance
from detectors.lockstep import lockstep_chance
from detectors.scorer.caught import caught_accounts, read_by_others
from scaleout.shard_scoring import SHARD, ShardInputs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_LOCKSTEP_DDL = f"`{SHARD}` string, t0_us long, engagements long"
_CAUGHT_DDL = "platform string, detector string, user_id string"


def shard_lockstep_chance(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """A shard's part of the window's lockstep statistics (``detectors.chance``: least t0, summed)."""
    engagements = inputs.rows(raw).engagements()
    found = lockstep_chance(engagements) if len(engagements) else None
    if found is None:
        return pd.DataFrame({SHARD: [], "t0_us": [], "engagements": []}).astype({SHARD: object})
    shard = str(raw[SHARD].iloc[0])
    return pd.DataFrame({SHARD: [shard], "t0_us": [found.t0_us], "engagements": [found.engagements]})


def shard_caught(raw: pd.DataFrame, *, inputs: ShardInputs, t0_us: int | None, total: int) -> pd.DataFrame:
    """The accounts each detector read by a per-platform test finds in a split shard (``caught_accounts``)."""
    rows = inputs.rows(raw)
    names = read_by_others(inputs.scorer.params)
    if not rows.has_window() or not names:
        return pd.DataFrame({"platform": [], "detector": [], "user_id": []}, dtype=object)
    engagements = rows.engagements()
    statistics = pd.DataFrame(
        {"statistic": ["lockstep_t0_us", "lockstep_engagements"], "key": "", "value": [t0_us, total]}
    )
    chance = window_chance(statistics if t0_us is not None else statistics.iloc[:0])
    found = caught_accounts(
        engagements,
        names,
        params=inputs.scorer.params,
        posts=inputs.posts_of(engagements),
        fitted=inputs.scorer.fitted,
        reputation=inputs.reputation,
        chance=chance,
    )
    users = engagements["user_id"].astype("str")
    platforms = (
        engagements["platform"].astype("str") if "platform" in engagements else users.map(lambda _: "")
    )
    frames = [
        pd.DataFrame({"platform": platforms[found_in], "detector": name, "user_id": users[found_in]})
        for name, ids in found.items()
        for found_in in [users.isin(ids).to_numpy()]
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates().astype(object)


def explained_per_platform(
    routed: DataFrame, split: list[str], *, inputs: ShardInputs
) -> dict[str, dict[str, pd.Index]] | None:
    """Per platform split along its graph and per detector a per-platform test reads: the accounts it
    found in the platform's shards; None when no test reads any."""
    if not read_by_others(inputs.scorer.params):
        return None
    from pyspark.sql import functions as F

    parts = routed.groupBy(SHARD).applyInPandas(
        lambda raw: shard_lockstep_chance(raw, inputs=inputs), _LOCKSTEP_DDL
    )
    least = parts.agg(F.min("t0_us").alias("t0"), F.sum("engagements").alias("n")).collect()[0]
    t0 = int(least["t0"]) if least["t0"] is not None else None
    total = int(least["n"] or 0)
    found = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_caught(raw, inputs=inputs, t0_us=t0, total=total), _CAUGHT_DDL)
        .distinct()
        .toPandas()
    )
    out: dict[str, dict[str, pd.Index]] = {}
    for (platform, name), ids in found.groupby(["platform", "detector"])["user_id"]:
        out.setdefault(str(platform), {})[str(name)] = pd.Index(ids.unique(), dtype="str")
    return out
