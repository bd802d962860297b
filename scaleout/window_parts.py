"""What a split window's shards read of the whole window, gathered on Spark in passes over the shards.

Each function runs one pass (every shard's part, from ``scaleout.shard_scoring`` or
``scaleout.platform_rings``) and combines the parts as the single process computes them
on the whole window: the window statistics (``detectors.chance``), the spreading and
seller-IP evidence, a split platform's models and per-platform verdicts, a device's
accounts, and the window's start for a reputation file.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from detectors.chance import (
    BY_FIRST_PART,
    CHANCE_COLUMNS,
    EVERY_SHARD,
    STATISTICS,
    WindowChance,
    window_chance,
)
from detectors.infra import KEY_SEPARATOR
from detectors.platform_verdicts import PlatformVerdicts
from detectors.policy import NOT_ACCOUNT_FAULT_REASONS
from detectors.pools import PoolChance
from detectors.registry import STRUCTURAL
from detectors.reputation import known_for
from detectors.scorer import FOCUSED_COLUMNS
from detectors.seller_ips import FARM_EVIDENCE, SellerIpEvidence
from detectors.spread import SPREAD_COLUMNS, spread_rows
from scaleout.shard_scoring import (
    FIRST_PASS_PARTS,
    FOCUSED,
    PAIR_COLUMNS,
    PAIR_ORDER,
    PANDAS_TYPES,
    PART,
    SHARD,
    ShardInputs,
    first_pass_ddl,
    platform_models,
    shard_bounds,
    shard_chance,
    shard_devices,
    shard_pairs,
    shard_raises,
    shard_spread,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_CHANCE_DDL = f"`{SHARD}` string, statistic string, key string, value long"
_PAIR_DDL = ", ".join([*(f"`{c}` string" for c in PAIR_COLUMNS), *(f"`{c}` long" for c in PAIR_ORDER)])
_BOUNDS_DDL = f"`{SHARD}` string, window_us long, history_us long"
_RAISES_DDL = (
    f"`{SHARD}` string, platform string, ip string, user_id string, strongest double, posts long,"
    " raised double"
)
# the second-round window's address rows (``SellerIpEvidence.widened``) carry ``ROUND`` 2
ROUND = "round"
# the second round's counts (``second_round_counts``): per address in several shards (``ROUND`` 2) and per
# account in several shards its raise
_SECOND_ROUND_FIELDS: tuple[tuple[str, str], ...] = (
    (SHARD, "string"),
    ("platform", "string"),
    ("ip", "string"),
    ("caught", "long"),
    ("accounts", "long"),
    ("strongest", "double"),
    (ROUND, "int"),
    ("user_id", "string"),
    ("raised", "double"),
)


def window_chance_per_shard(routed: DataFrame, *, inputs: ShardInputs) -> DataFrame:
    """The whole window's statistics (``detectors.chance``) each shard needs, keyed by ``SHARD``.

    A first pass computes every shard's part (``shard_chance``); Spark combines the parts
    per statistic and key as ``STATISTICS`` says (sum, or the least for the grid origin),
    and joins back to each shard only the keys it holds (the IPs it saw, and the window's
    totals). A shard plan never splits a post, so the combination is the window's own.
    """
    from pyspark.sql import functions as F

    parts = routed.groupBy(SHARD).applyInPandas(lambda raw: shard_chance(raw, inputs=inputs), _CHANCE_DDL)
    parts = parts.persist()
    least = [name for name, how in STATISTICS.items() if how == "min"]
    combined = parts.groupBy("statistic", "key").agg(
        F.when(F.col("statistic").isin(least), F.min("value")).otherwise(F.sum("value")).alias("value")
    )
    # an IP's pairs in every community (its reach, ``detectors.infra``), not only in the shard's, and
    # a comment text's every account (``BY_FIRST_PART``)
    joined_by = F.when(
        F.col("statistic").isin(list(BY_FIRST_PART)), F.split("key", KEY_SEPARATOR).getItem(0)
    ).otherwise(F.col("key"))
    everyone = F.col("statistic").isin(list(EVERY_SHARD))  # per community: every shard reads all
    held = parts.filter(~everyone).select(SHARD, "statistic", joined_by.alias("joined_by")).distinct()
    per_key = held.join(
        combined.filter(~everyone).withColumn("joined_by", joined_by), ["statistic", "joined_by"]
    )
    totals = parts.select(SHARD).distinct().crossJoin(combined.filter(everyone))
    return per_key.select(SHARD, *CHANCE_COLUMNS).unionByName(totals.select(SHARD, *CHANCE_COLUMNS))


def window_spread_per_shard(
    routed: DataFrame, chance: DataFrame, *, inputs: ShardInputs
) -> tuple[DataFrame, DataFrame]:
    """The window's spreading evidence of the accounts each shard holds, keyed by ``SHARD``, and each
    shard's detections as the seller-IP rule reads them (``FOCUSED_COLUMNS``, for ``window_second_round``).

    A first scoring pass runs every shard's detectors (against the joined window
    statistics) and gives each account's caught and total engagements and its
    strongest caught score per spreading detector (``shard_spread``); Spark adds
    the counts and keeps the strongest score per account over the shards, and joins
    back to each shard the accounts it holds that were caught somewhere. The second
    pass spreads with these (``detectors.spread.spread_to_accounts``), as the single
    process spreads with the whole window's.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    def part(raw: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
        joined = window_chance(statistics) if len(statistics) else None
        return shard_spread(raw, inputs=inputs, chance=joined)

    parts = routed.groupBy(SHARD).cogroup(chance.groupBy(SHARD)).applyInPandas(part, first_pass_ddl())
    parts = parts.persist()
    spreading, ip_parts, focused = (first_pass_part(parts, name) for name in FIRST_PASS_PARTS)
    combined = (
        spreading.groupBy("detector", "user_id")
        .agg(
            F.sum("caught").alias("caught"),
            F.sum("total").alias("total"),
            F.max("strongest").alias("strongest"),
            # the sentence of the strongest catch's group (on a tie, the greatest sentence)
            F.max_by("evidence", F.struct("strongest", "evidence")).alias("evidence"),
        )
        .filter(F.col("caught") > 0)
    )
    spread = spreading.select(SHARD, "detector", "user_id").join(combined, ["detector", "user_id"])
    params = inputs.scorer.params.spread
    names = STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS
    # with ``ip_farm_floors``: the accounts caught on a bot farm's evidence too, and each account's fresh
    # status over the window (``detectors.seller_ips._farm_addresses``)
    on = params.ip_farm_floors
    seller_ips = window_seller_ips(
        ip_parts,
        caught=caught_by_spreading(combined, inputs=inputs, names=names),
        farm=caught_by_spreading(combined, inputs=inputs, names=names & FARM_EVIDENCE) if on else None,
        fresh_posts=params.ip_farm_max_posts if on else None,
    )
    # read by the seller-IP rule's second-round pass (twice) and by the last pass: computed once
    evidence = spread.unionByName(seller_ips, allowMissingColumns=True).persist(StorageLevel.DISK_ONLY)
    return evidence, focused


def first_pass_part(parts: DataFrame, name: str) -> DataFrame:
    """The first pass's part ``name`` (``FIRST_PASS_PARTS``) of its stacked output (``shard_spread``):
    its rows, with ``SHARD`` and the part's own columns."""
    from pyspark.sql import functions as F

    return parts.filter(F.col(PART) == name).select(SHARD, *FIRST_PASS_PARTS[name])


def caught_by_spreading(combined: DataFrame, *, inputs: ShardInputs, names: frozenset[str]) -> DataFrame:
    """The accounts the window's spreading evidence (``combined``: ``SPREAD_COLUMNS``) makes caught on
    every engagement: user_id and the noisy-OR of the scores the ``names`` detectors spread to
    each of its engagements (``detectors.spread.spread_rows``), where it reaches ``min_caught_score``.

    A shard's first pass spread with its own evidence only, so its seller-IP part misses an account
    whose catches lie in another shard; the second pass, and the single process, count it caught.
    """
    from pyspark.sql import functions as F

    params = inputs.scorer.params.spread
    rows = combined.mapInPandas(
        lambda frames: (spread_rows(frame, params=params, names=names) for frame in frames),
        "user_id string, detector string, spread double",
    )
    # a detector's score and its window-alone score (``SpreadParams.window_alone``): the higher
    rows = rows.groupBy("user_id", "detector").agg(F.max("spread").alias("spread"))
    keep = F.exp(F.sum(F.log1p(-F.col("spread"))))
    noisy_or = F.when(F.count("*") == 1, F.max("spread")).otherwise(1.0 - keep)
    return (
        rows.groupBy("user_id")
        .agg(noisy_or.alias("spread"))
        .filter(F.col("spread") >= F.lit(params.min_caught_score))
    )


def window_seller_ips(
    parts: DataFrame,
    *,
    caught: DataFrame | None = None,
    farm: DataFrame | None = None,
    fresh_posts: int | None = None,
) -> DataFrame:
    """The window's seller-IP evidence (``detectors.seller_ips.SellerIpEvidence``) of the addresses and
    accounts that span shards, keyed by the ``SHARD`` that holds them.

    From the shards' parts (``ip_part``): per (platform, ip) the distinct accounts, the caught ones
    (caught in any shard, or by the window's spreading: ``caught``, ``caught_by_spreading``) and
    their strongest score, for every address in several shards (one with none caught too: the second
    round, ``detectors.seller_ips._rounds``, may catch accounts there, and the shard's own count of its
    accounts is a part); per (platform, account) its distinct posts added up (a post is in one shard).
    With ``ip_farm_floors``: per address also its accounts caught on a farm's evidence (in any shard, or
    by the window's spreading of those detectors: ``farm``), and its accounts with at most
    ``fresh_posts`` distinct posts over the window (``fresh``); 0 without.
    """
    from pyspark.sql import functions as F

    through = _caught_through(parts.filter(F.col("ip").isNotNull()), caught, column="caught", strongest=True)
    through = _caught_through(through.withColumn("farm", F.coalesce("farm", F.lit(0))), farm, column="farm")
    own = parts.filter(F.col("ip").isNull())
    window_posts = own.groupBy("platform", "user_id").agg(
        F.sum("posts").alias("posts"), F.count("*").alias("_shards")
    )
    spans = through.groupBy("platform", "ip").agg(F.countDistinct(SHARD).alias("_shards"))
    per_account = through.groupBy("platform", "ip", "user_id").agg(
        F.max("caught").alias("caught"), F.max("strongest").alias("strongest"), F.max("farm").alias("farm")
    )
    fresh = F.lit(0)
    if fresh_posts is not None:
        counted = window_posts.select("platform", "user_id", "posts")
        per_account = per_account.join(counted, ["platform", "user_id"], "left")
        fresh = F.coalesce(F.col("posts") <= F.lit(fresh_posts), F.lit(False)).cast("long")
    per_ip = (
        per_account.withColumn("fresh", fresh)
        .groupBy("platform", "ip")
        .agg(
            F.sum("caught").alias("caught"),
            F.count("*").alias("accounts"),
            F.max("strongest").alias("strongest"),
            F.sum("farm").alias("farm"),
            F.sum("fresh").alias("fresh"),
        )
        .join(spans.filter(F.col("_shards") > 1).select("platform", "ip"), ["platform", "ip"])
    )
    ips = through.select(SHARD, "platform", "ip").distinct().join(per_ip, ["platform", "ip"])
    several = window_posts.filter(F.col("_shards") > 1).drop("_shards")
    posts = own.select(SHARD, "platform", "user_id").join(several, ["platform", "user_id"])
    return ips.unionByName(posts, allowMissingColumns=True)


def _caught_through(
    through: DataFrame, caught: DataFrame | None, *, column: str, strongest: bool = False
) -> DataFrame:
    """``through`` (an ``ip_part``'s rows with an address) with ``column`` 1 on every row of an account
    ``caught`` (``caught_by_spreading``) lists, and with ``strongest`` its spread score kept too."""
    from pyspark.sql import functions as F

    if caught is None:
        return through
    spread = F.coalesce(F.col("spread"), F.lit(0.0))
    through = through.join(F.broadcast(caught), "user_id", "left").withColumn(
        column, F.when(spread > 0, F.lit(1)).otherwise(F.col(column))
    )
    if strongest:
        through = through.withColumn("strongest", F.greatest(F.col("strongest"), spread))
    return through.drop("spread")


def window_second_round(
    routed: DataFrame,
    joined: DataFrame,
    focused: DataFrame,
    *,
    split: list[str],
    platforms: frozenset[str],
    inputs: ShardInputs,
) -> DataFrame | None:
    """The seller-IP rule's second round over the window, keyed by ``SHARD``: per address in several
    shards its counts once the first round's raised accounts count as caught (``ROUND`` 2), and per
    account in several shards its first-round raised score (``raised``: ``SellerIpEvidence``); None
    when no shard holds an address or account in several shards (each shard's own rounds are the window's).

    One more pass over the ``split`` shards that hold such an address or account (the others add
    nothing to it), against the window's joined first-round evidence (``joined``): each shard spreads
    the first pass's detections (``focused``: ``first_pass_part``, the detectors are not run again)
    with the window's evidence and gives its raised accounts and its ``ip_part``, the rows that span
    shards (``shard_raises``); per platform, ``second_round_counts``
    keeps each account's largest raise over the shards, raises it on every address it used (caught
    when the raise reaches ``min_caught_score``, as ``detectors.seller_ips._rounds`` counts it), and
    counts per address as ``window_seller_ips`` does.
    """
    from pyspark.sql import functions as F

    spanning = F.col("ip").isNotNull() | F.col("posts").isNotNull()
    held = joined.filter(F.col(SHARD).isin(split) & spanning).select(SHARD).distinct().collect()
    shards = sorted(str(row[SHARD]) for row in held)
    if not shards:
        return None

    def part(raw: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
        found, rest = focused_apart(window)
        chance = joined_chance(rest, split=platforms)
        return shard_raises(raw, inputs=inputs, chance=chance, focused=found)

    floor = inputs.scorer.params.spread.min_caught_score

    def counted(rows: pd.DataFrame) -> pd.DataFrame:
        return second_round_counts(rows, min_caught_score=floor)

    in_pass = F.col(SHARD).isin(shards)
    window = with_focused(joined.filter(in_pass), focused.filter(in_pass))
    parts = routed.filter(in_pass).groupBy(SHARD).cogroup(window.groupBy(SHARD))
    rows = parts.applyInPandas(part, _RAISES_DDL)
    # counted per platform in a worker (every count is within one platform), not on the driver: what
    # spans shards grows with the window, and the driver's heap and result limit do not
    schema = ", ".join(f"`{name}` {kind}" for name, kind in _SECOND_ROUND_FIELDS)
    counts = rows.groupBy("platform").applyInPandas(counted, schema)
    # computed here, its plan cut: the shards' scoring plan does not carry this pass's (its Python
    # functions and the joined window's plan again; Spark's plan text of it once ran a 2 GB driver out
    # of heap)
    return counts.localCheckpoint(eager=True)


def with_focused(joined: DataFrame, focused: DataFrame) -> DataFrame:
    """The second-round pass's window rows of each shard: its ``joined`` rows (``PART`` null) and its
    first-pass detections (``focused``, ``PART`` "focused"), read apart by ``focused_apart``."""
    from pyspark.sql import functions as F

    plain = joined.withColumn(PART, F.lit(None).cast("string"))
    return plain.unionByName(focused.withColumn(PART, F.lit(FOCUSED)), allowMissingColumns=True)


def focused_apart(window: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A shard's rows of ``with_focused``: its first-pass detections (``FOCUSED_COLUMNS``) and its joined
    rows (as ``joined_chance`` reads them)."""
    is_focused = window[PART].eq(FOCUSED).to_numpy()
    found = window.loc[is_focused, list(FOCUSED_COLUMNS)].reset_index(drop=True)
    only = [c for c in FOCUSED_COLUMNS if c not in SPREAD_COLUMNS]  # the joined rows have none
    return found, window.loc[~is_focused].drop(columns=[PART, *only])


def second_round_counts(parts: pd.DataFrame, *, min_caught_score: float) -> pd.DataFrame:
    """The second-round window from the shards' parts (``shard_raises``, with ``SHARD``): each account's
    largest first-round raise, counted caught (at ``min_caught_score`` or more) on every address it
    used; per address in several shards its caught and all accounts and strongest caught score
    (``ROUND`` 2), per account in several shards its raise (``raised``), keyed by the shards holding them
    (``_SECOND_ROUND_FIELDS``)."""
    account, address = ["platform", "user_id"], ["platform", "ip"]
    raised = parts[parts["raised"].notna()].groupby(account, as_index=False, dropna=False)["raised"].max()
    through = parts[parts["ip"].notna()]
    per_account = through.groupby([*address, "user_id"], as_index=False, dropna=False)["strongest"].max()
    per_account = per_account.merge(raised, on=account, how="left")
    counted = per_account["raised"].where(per_account["raised"] >= min_caught_score, 0.0)
    per_account["strongest"] = np.fmax(per_account["strongest"].to_numpy(float), counted.to_numpy(float))
    per_ip = per_account.groupby(address, as_index=False, dropna=False).agg(
        caught=("strongest", lambda s: int((s > 0).sum())),
        accounts=("user_id", "size"),
        strongest=("strongest", "max"),
    )
    spans = through.groupby(address, dropna=False)[SHARD].nunique()
    per_ip = per_ip.merge(spans[spans > 1].index.to_frame(index=False), on=address)
    ips = through[[SHARD, *address]].drop_duplicates().merge(per_ip, on=address).assign(**{ROUND: 2})
    own = parts[parts["ip"].isna() & parts["posts"].notna()]
    shards = own.groupby(account, dropna=False)[SHARD].nunique()
    several = own[[SHARD, *account]].merge(shards[shards > 1].index.to_frame(index=False), on=account)
    counts = pd.concat([ips, several.merge(raised, on=account)], ignore_index=True)
    columns = [name for name, _ in _SECOND_ROUND_FIELDS]
    counts = counts.reindex(columns=columns).astype({n: PANDAS_TYPES[k] for n, k in _SECOND_ROUND_FIELDS})
    return counts.sort_values(columns, ignore_index=True)


def joined_chance(window: pd.DataFrame, *, split: frozenset[str]) -> WindowChance | None:
    """A shard's joined rows (window statistics, spreading and seller-IP evidence, and the seller-IP
    rule's second round when gathered: ``window_second_round``) as the scorer takes them, with the
    platforms the plan split (``split``: ``SellerIpEvidence.split``)."""
    if "detector" not in window:  # whole platforms only: an account's engagements are all in its shard
        return window_chance(window) if len(window) else None
    statistics = window.loc[window["statistic"].notna(), list(CHANCE_COLUMNS)]
    if not len(statistics):
        return None
    spread = window.loc[window["detector"].notna(), list(SPREAD_COLUMNS)].reset_index(drop=True)
    return replace(
        window_chance(statistics), spread=spread, seller_ips=seller_ip_evidence(window, split=split)
    )


def seller_ip_evidence(window: pd.DataFrame, *, split: frozenset[str]) -> SellerIpEvidence:
    """The seller-IP rows of a shard's joined rows (``joined_chance``): ``window_seller_ips``'s, and
    ``window_second_round``'s when the job gathered it (a column ``ROUND`` in the joined frame)."""
    second = window[ROUND].notna() if ROUND in window else pd.Series(False, index=window.index)
    is_ip, is_posts = window["ip"].notna(), window["posts"].notna()
    counts = ["platform", "ip", "caught", "accounts", "strongest"]
    gathered = ROUND in window  # the job ran the second round's pass
    return SellerIpEvidence(
        ips=window.loc[is_ip & ~second, [*counts, "farm", "fresh"]].reset_index(drop=True),
        posts=window.loc[is_posts, ["platform", "user_id", "posts"]].reset_index(drop=True),
        split=split,
        widened=window.loc[is_ip & second, counts].reset_index(drop=True) if gathered else None,
        raised=window.loc[window["raised"].notna(), ["platform", "user_id", "raised"]].reset_index(drop=True)
        if gathered
        else None,
    )


def models_per_platform(
    routed: DataFrame, split: list[str], *, inputs: ShardInputs
) -> tuple[dict[str, PoolChance], dict[str, dict[str, PlatformVerdicts]], pd.Index]:
    """The pool test's chance model of each platform split along its graph, the verdicts of the
    detectors that run per platform (dense blocks, pools) on the whole platform's graph, and the
    split platforms' creators.

    Each of the ``split`` shards gives its distinct (account, post, creator) rows (``shard_pairs``);
    one worker per platform finds the platform's audiences, the pool test's chance inputs and runs the
    per-platform detectors on the platform (``platform_models``); every shard of the platform is scored
    against the model and reads its engagements' dense-block and pool verdicts from the platform's,
    as the platform is scored on one machine.
    The rows are a platform's engagement graph, not its events: a few id columns per distinct
    (account, post).
    """
    from pyspark.sql import functions as F

    pairs = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_pairs(raw, inputs=inputs), _PAIR_DDL)
    )
    schema = "platform string, model binary, verdicts binary, creators binary"
    models = pairs.groupBy("platform").applyInPandas(
        lambda rows: platform_models(rows, inputs=inputs), schema
    )
    found = models.collect()
    pools = {str(row["platform"]): pickle.loads(row["model"]) for row in found if row["model"] is not None}
    verdicts = {str(row["platform"]): pickle.loads(row["verdicts"]) for row in found}
    creators = [pickle.loads(row["creators"]) for row in found]
    return pools, verdicts, pd.Index([], dtype="str").append(creators).unique()


def device_accounts(routed: DataFrame, split: list[str], *, inputs: ShardInputs) -> pd.Series:
    """Per device of the ``split`` shards that more accounts than a household share: its accounts
    over the window, its (device, account) pairs unioned over the shards (``shard_devices``).

    An account engaging creators in two shards is one account on its device, not two; a device
    of at most ``household_accounts`` accounts is never a farm, so only the others come back.
    """
    from pyspark.sql import functions as F

    household = inputs.scorer.params.detectors.device_farm.household_accounts
    counted = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_devices(raw, inputs=inputs), "device_id string, user_id string")
        .distinct()
        .groupBy("device_id")
        .count()
        .filter(F.col("count") > household)
        .toPandas()
    )
    return pd.Series(
        counted["count"].to_numpy(dtype="int64"), index=pd.Index(counted["device_id"], dtype="str")
    )


def known_per_window(
    routed: DataFrame, *, inputs: ShardInputs, entries: pd.DataFrame, half_life_days: float
) -> pd.DataFrame | None:
    """What a reputation file's ``entries`` tell this window (``detectors.reputation.known_for``).

    The window's first valid ``ts`` and its context's (history's, when earlier) come from one
    pass over the shards (``shard_bounds``), as the single process reads them from the clean
    events; the known subjects are joined into every shard (a reputation is small).
    """
    from pyspark.sql import functions as F

    bounds = (
        routed.groupBy(SHARD)
        .applyInPandas(lambda raw: shard_bounds(raw, inputs=inputs), _BOUNDS_DDL)
        .agg(F.min("window_us").alias("window_us"), F.min("history_us").alias("history_us"))
        .toPandas()
    )
    window_us, history_us = bounds["window_us"].iloc[0], bounds["history_us"].iloc[0]
    if pd.isna(window_us):
        return None
    start = pd.Timestamp(int(window_us), unit="us", tz="UTC")
    context = start if pd.isna(history_us) else min(start, pd.Timestamp(int(history_us), unit="us", tz="UTC"))
    return known_for(entries, start=start, context_start=context, half_life_days=half_life_days)
