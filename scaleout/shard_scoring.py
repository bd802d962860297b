"""Score one shard of a window with the unchanged scorer: raw contract rows in, the four outputs out.

A shard's rows arrive from Spark with their row number in the source file
(``ROW``) and their shard (``SHARD``). Validation (``features.contract``), replays
and re-counts (``features.dedup``), the detectors, unit prices and the money
policy (``WindowScorer``) and the output checks (``serving.io``, ``features.schema``)
are the single-process path's own functions; this module only carries the source
row numbers across and stacks the four outputs into one frame of ``OUTPUT_FIELDS``,
the shape Spark's ``applyInPandas`` returns, told apart by ``kind``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.chance import CHANCE_COLUMNS, WindowChance, chance_frame
from detectors.model import WindowScorer
from detectors.scorer import spread_parts
from detectors.spread import SPREAD_COLUMNS
from features.contract import Cleaned, clean_events
from features.dedup import distinct_engagements
from features.schema import AccountFlags, EngagementVerdicts, PostDecisions, Rejects, checked
from serving.io import accounts_output, engagements_output, posts_output, with_categorical_ids

ROW = "source_row_in_file"  # 1-based data row in the source file, numbered by Spark
SHARD = "shard"  # the shard that decided each output row (an extra output column)
KINDS = ("engagements", "posts", "accounts", "rejects")

# every column of the four outputs, with its Spark SQL type; a kind leaves the others null
OUTPUT_FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "string"),
    (SHARD, "string"),
    ("event_id", "string"),
    ("post_id", "string"),
    ("user_id", "string"),
    ("action", "string"),
    ("risk", "double"),
    ("invalid", "boolean"),
    ("reason", "string"),
    ("campaign_id", "string"),
    ("creator_id", "string"),
    ("copies", "long"),
    ("unit_price", "double"),
    ("evidence", "string"),
    ("claimed", "long"),
    ("valid", "long"),
    ("decision", "string"),
    ("payable", "double"),
    ("reasons", "string"),
    ("claimed_amount", "double"),
    ("held_amount", "double"),
    ("withheld_amount", "double"),
    ("account_id", "string"),
    ("role", "string"),
    ("flagged", "boolean"),
    ("source_file", "string"),
    ("source_row", "long"),
    ("column", "string"),
    ("value", "string"),
)


def output_ddl() -> str:
    """``OUTPUT_FIELDS`` as the schema string ``applyInPandas`` takes."""
    return ", ".join(f"`{name}` {kind}" for name, kind in OUTPUT_FIELDS)


def clean_shard_events(raw: pd.DataFrame, *, source: str) -> Cleaned:
    """``clean_events`` of a shard's rows, with ``source_row`` the row number in the source file."""
    ordered = raw.sort_values(ROW, kind="stable", ignore_index=True)
    rows = ordered[ROW].to_numpy(dtype=np.int64)
    # id columns as categoricals, as the single-process reader gives them: checked once per
    # distinct value, and a shard's millions of Python strings freed before scoring
    ordered = with_categorical_ids(ordered.drop(columns=[c for c in (ROW, SHARD) if c in ordered]))
    cleaned = clean_events(ordered, source=source)
    for frame in (cleaned.frame, cleaned.rejects):
        # clean_events numbers the shard's rows 1..n: map them back to the file's rows
        frame["source_row"] = rows[frame["source_row"].to_numpy(dtype=np.int64) - 1]
    return cleaned


def shard_engagements(raw: pd.DataFrame, *, source: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """A shard's name, its rejects and its distinct engagements (``distinct_engagements``)."""
    shard = str(raw[SHARD].iloc[0]) if len(raw) else ""
    cleaned = clean_shard_events(raw, source=source)
    frame = cleaned.frame
    return shard, cleaned.rejects, distinct_engagements(frame) if len(frame) else frame


def shard_chance(raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """The window statistics of one shard's raw rows as a part (``detectors.chance``), with ``SHARD``."""
    shard, _, engagements = shard_engagements(raw, source=source)
    part = chance_frame(engagements) if len(engagements) else pd.DataFrame(columns=list(CHANCE_COLUMNS))
    part.insert(0, SHARD, shard)
    return part.astype({"statistic": object, "key": object})


def shard_spread(
    raw: pd.DataFrame,
    *,
    scorer: WindowScorer,
    source: str,
    posts: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> pd.DataFrame:
    """One shard's part of the window's spreading evidence (``scorer.spread_parts``), with ``SHARD``."""
    shard, _, engagements = shard_engagements(raw, source=source)
    if not len(engagements):
        part = pd.DataFrame(columns=list(SPREAD_COLUMNS))
    else:
        if posts is not None:
            posts = posts[posts["post_id"].isin(engagements["post_id"].cat.categories)]
        part = spread_parts(
            engagements, params=scorer.params, posts=posts, fitted=scorer.fitted, chance=chance
        )
    part.insert(0, SHARD, shard)
    return part.astype({"detector": object, "user_id": object, "caught": "int64", "total": "int64"})


def score_shard(
    raw: pd.DataFrame,
    *,
    scorer: WindowScorer,
    source: str,
    posts: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    chance: WindowChance | None = None,
) -> pd.DataFrame:
    """The four outputs of one shard's raw rows, stacked as ``OUTPUT_FIELDS`` (see the module).

    ``chance``: the whole window's statistics (``detectors.chance``), so that the shard's
    detectors measure chance against the window, not against the shard.
    """
    shard, rejects, engagements = shard_engagements(raw, source=source)
    parts = [("rejects", checked(rejects, Rejects, where=f"{shard} rejects"))]
    if len(engagements):
        if posts is not None:
            posts = posts[posts["post_id"].isin(engagements["post_id"].cat.categories)]
        scored = scorer.score_engagements(engagements, posts=posts, campaigns=campaigns, chance=chance)
        outputs = (
            ("engagements", engagements_output(scored.engagements), EngagementVerdicts),
            ("posts", posts_output(scored.posts), PostDecisions),
            ("accounts", accounts_output(scored.accounts), AccountFlags),
        )
        parts += [(kind, checked(frame, model, where=f"{shard} {kind}")) for kind, frame, model in outputs]
    return stack_outputs(parts, shard=shard)


def stack_outputs(parts: list[tuple[str, pd.DataFrame]], *, shard: str) -> pd.DataFrame:
    """The outputs as one frame of ``OUTPUT_FIELDS``, each row naming its ``kind`` and ``shard``."""
    frames = []
    for kind, frame in parts:
        plain = frame.copy(deep=False)
        for column in plain.columns:
            if isinstance(plain[column].dtype, pd.CategoricalDtype):
                plain[column] = plain[column].astype("str")
        plain.insert(0, SHARD, shard)
        plain.insert(0, "kind", kind)
        frames.append(plain)
    stacked = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    stacked = stacked.reindex(columns=[name for name, _ in OUTPUT_FIELDS])
    for name, kind in OUTPUT_FIELDS:
        if kind == "string":
            # Spark converts object columns of str; pandas' Arrow-backed strings arrive chunked
            stacked[name] = stacked[name].astype(object).where(stacked[name].notna(), None)
    return stacked
