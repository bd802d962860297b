"""The ring test of a platform split along its graph, run once on the platform's events.

A ring's creators come from several audience communities, so a graph split puts them in
different shards, and each shard's ring test saw only the members and alts it holds. The ring
test reads events (per creator pair the events of the source's accounts on the target's posts,
per creator its events, the devices and IPs its own account shares with its alts), so a split
platform's shards each give their rows of the six columns it reads (``shard_ring_rows``), one
worker per platform runs the test on them as the scorer runs it (``platform_rings``), and every
shard reads its engagements' verdicts (``detectors.platform_verdicts``: a ring event's score is its
account's in the ring of its post's creator, so one per (account, post) pair).
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import pandas as pd

from detectors.lookback import CONTEXT_COLUMN
from detectors.platform_verdicts import PlatformVerdicts, pair_verdicts
from detectors.registry import DETECTORS, WindowContext
from detectors.rings import NAME
from scaleout.platform_tests import verdicts_per_platform
from scaleout.shard_scoring import ShardInputs
from serving.io import with_categorical_ids

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RING_COLUMNS = ("platform", "user_id", "post_id", "creator_id", "device_id", "ip")
_RING_DDL = ", ".join(f"`{c}` string" for c in RING_COLUMNS)


def shard_ring_rows(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The rows of a shard the ring test reads (``RING_COLUMNS``, missing values null): its distinct
    engagements with history, less the honest context rows of condensed history (the ring test's
    view, ``detectors.scorer.running._views``)."""
    engagements = inputs.rows(raw).engagements()
    if not len(engagements):
        return pd.DataFrame(columns=list(RING_COLUMNS))
    if inputs.scorer.params.history.mode == "condensed" and CONTEXT_COLUMN in engagements:
        engagements = engagements[~engagements[CONTEXT_COLUMN].eq(True).to_numpy()]
    empty = pd.Series(None, index=engagements.index, dtype=object)
    out = {}
    for column in RING_COLUMNS:
        values = engagements.get(column, empty)
        out[column] = values.astype("str").astype(object).where(values.notna().to_numpy(), None).to_numpy()
    return pd.DataFrame(out)


def platform_rings(rows: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The ring test's verdicts on one platform's rows from all its shards, pickled
    (``PlatformVerdicts``). Columns platform, verdicts."""
    if not len(rows):
        return pd.DataFrame({"platform": [], "verdicts": []})
    platform = str(rows["platform"].iloc[0])
    ordered = rows.sort_values(list(RING_COLUMNS[1:]), ignore_index=True, na_position="last")
    frame = with_categorical_ids(ordered)
    params = inputs.scorer.params
    spec = next(spec for spec in DETECTORS if spec.name == NAME)
    context = WindowContext(frame, posts=inputs.posts_of(frame), fitted=None, audience=params.audience)
    found = pair_verdicts(frame, spec.run(frame, params.detectors.of(NAME), context))
    return pd.DataFrame({"platform": [platform], "verdicts": [pickle.dumps(found)]})


def rings_per_platform(
    routed: DataFrame, split: list[str], *, inputs: ShardInputs
) -> dict[str, PlatformVerdicts]:
    """Per platform split along its graph: the ring test's verdicts on the whole platform's events.

    The rows are the platform's events (six id columns each), not only its pairs: the ring test
    counts events. One worker holds one platform's.
    """
    return verdicts_per_platform(
        routed,
        split,
        shard_rows=lambda raw: shard_ring_rows(raw, inputs=inputs),
        rows_ddl=_RING_DDL,
        platform_test=lambda part: platform_rings(part, inputs=inputs),
    )
