"""The lockstep test of a platform split along its graph, run once on the platform's engagements.

A lockstep group (accounts engaging the same posts in the same short windows, repeatedly) is
found among posts of any creators of its platform, so a graph split may put its posts in
different shards: each shard's test saw the part of the group it holds, grown, tested and scored
on its part (a weaker group, another strength, or none). The test reads per engagement its
account, post, creator and time, and the window's grid origin and engagements
(``detectors.chance``: joined into every shard already). So each split shard gives its rows of
those columns (``shard_lockstep_rows``), one worker per platform runs the test on them with the
window's statistics, as the scorer runs it on the window (``platform_lockstep``), and every shard
reads its engagements' verdicts (``detectors.platform_verdicts``: every event of an (account,
post) engagement has the engagement's score).
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import pandas as pd

from detectors.chance import CHANCE_COLUMNS, WindowChance, window_chance
from detectors.infra import ip_chance
from detectors.lockstep import NAME, LockstepChance
from detectors.lookback import CONTEXT_COLUMN
from detectors.platform_verdicts import PlatformVerdicts, pair_verdicts
from detectors.registry import BY_NAME, WindowContext
from scaleout.platform_tests import verdicts_per_platform
from scaleout.shard_scoring import ShardInputs
from scaleout.window_accounts import microseconds, utc_times
from serving.io import with_categorical_ids

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

LOCKSTEP_COLUMNS = ("platform", "user_id", "post_id", "creator_id")
# the window statistics the test reads (``detectors.chance.STATISTICS``)
LOCKSTEP_STATISTICS = ("lockstep_t0_us", "lockstep_engagements")
_LOCKSTEP_DDL = ", ".join([*(f"`{c}` string" for c in LOCKSTEP_COLUMNS), "ts_us long"])


def shard_lockstep_rows(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The rows of a shard the lockstep test reads: its distinct engagements with history, less the
    honest context rows of condensed history unless the test reads them (the scorer's view of it,
    ``detectors.scorer.running._views``), as ``LOCKSTEP_COLUMNS`` (str, null where missing) and the
    time in microseconds since the epoch."""
    engagements = inputs.rows(raw).engagements()
    history = inputs.scorer.params.history
    if not len(engagements):
        return pd.DataFrame(columns=[*LOCKSTEP_COLUMNS, "ts_us"])
    if history.mode == "condensed" and NAME not in history.context_for and CONTEXT_COLUMN in engagements:
        engagements = engagements[~engagements[CONTEXT_COLUMN].eq(True).to_numpy()]
    out = {}
    for column in LOCKSTEP_COLUMNS:
        values = engagements[column]
        out[column] = values.astype("str").astype(object).where(values.notna().to_numpy(), None).to_numpy()
    out["ts_us"] = microseconds(engagements["ts"]).to_numpy()
    return pd.DataFrame(out)


def platform_lockstep(
    rows: pd.DataFrame, *, inputs: ShardInputs, chance: LockstepChance | None
) -> pd.DataFrame:
    """The lockstep test's verdicts on one platform's rows from all its shards, against the window's
    ``chance`` (its grid origin and engagements), pickled (``PlatformVerdicts``). Columns platform,
    verdicts."""
    if not len(rows):
        return pd.DataFrame({"platform": [], "verdicts": []})
    platform = str(rows["platform"].iloc[0])
    # the test's answer does not depend on its rows' order (ids are factorised sorted)
    ordered = rows.sort_values([*LOCKSTEP_COLUMNS[1:], "ts_us"], ignore_index=True, na_position="last")
    frame = with_categorical_ids(ordered.drop(columns="ts_us"))
    frame["ts"] = utc_times(ordered["ts_us"])
    params = inputs.scorer.params
    given = WindowChance(ip=ip_chance(frame.iloc[:0]), lockstep=chance)
    context = WindowContext(
        frame, posts=inputs.posts_of(frame), fitted=None, audience=params.audience, chance=given
    )
    found = pair_verdicts(frame, BY_NAME[NAME].run(frame, params.detectors.of(NAME), context))
    return pd.DataFrame({"platform": [platform], "verdicts": [pickle.dumps(found)]})


def window_lockstep(chance: DataFrame) -> LockstepChance | None:
    """The window's lockstep statistics from the joined window statistics (``CHANCE_COLUMNS`` with
    ``SHARD``: every shard holds the same two rows)."""
    from pyspark.sql import functions as F

    rows = (
        chance.filter(F.col("statistic").isin(list(LOCKSTEP_STATISTICS)))
        .select(*CHANCE_COLUMNS)
        .distinct()
        .toPandas()
    )
    return window_chance(rows).lockstep if len(rows) else None


def lockstep_per_platform(
    routed: DataFrame, split: list[str], *, inputs: ShardInputs, chance: DataFrame
) -> dict[str, PlatformVerdicts]:
    """Per platform split along its graph: the lockstep test's verdicts on the whole platform's
    engagements, against the window's statistics (``chance``, ``window_chance_per_shard``'s).

    The rows are the platform's engagements (four ids and a time each); one worker holds one
    platform's.
    """
    window = window_lockstep(chance)
    return verdicts_per_platform(
        routed,
        split,
        shard_rows=lambda raw: shard_lockstep_rows(raw, inputs=inputs),
        rows_ddl=_LOCKSTEP_DDL,
        platform_test=lambda part: platform_lockstep(part, inputs=inputs, chance=window),
    )
