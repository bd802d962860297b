"""A group test of a platform split along its graph, run once on the whole platform's rows.

Each split shard gives its rows of the columns the test reads (``shard_rows``), one worker per
platform runs the test on them (``platform_test``: a frame of the platform and its pickled
``PlatformVerdicts``), and the driver collects the verdicts that every shard of the platform reads
(``scaleout.platform_rings``, ``scaleout.platform_lockstep``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from detectors.platform_verdicts import PlatformVerdicts
from scaleout.shard_scoring import SHARD

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def verdicts_per_platform(
    routed: DataFrame,
    split: list[str],
    *,
    shard_rows: Callable[[pd.DataFrame], pd.DataFrame],
    rows_ddl: str,
    platform_test: Callable[[pd.DataFrame], pd.DataFrame],
) -> dict[str, PlatformVerdicts]:
    """Per platform of the ``split`` shards: ``platform_test``'s verdicts on the rows its shards give."""
    from pyspark.sql import functions as F

    rows = routed.filter(F.col(SHARD).isin(split)).groupBy(SHARD).applyInPandas(shard_rows, rows_ddl)
    found = (
        rows.groupBy("platform").applyInPandas(platform_test, "platform string, verdicts binary").collect()
    )
    return {str(row["platform"]): pickle.loads(row["verdicts"]) for row in found}
