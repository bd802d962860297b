"""Score one shard of a window with the unchanged scorer: raw contract rows in, the four outputs out.

A shard's rows arrive from Spark with their row number in the source file
(``ROW``), their shard (``SHARD``) and, with history, their source (``SOURCE``:
the window's or a history file's; history rows are context, scored beside the
window as ``detectors.history`` says and never in the outputs). Validation (``features.contract``), replays
and re-counts (``features.dedup``), the detectors, unit prices and the money
policy (``WindowScorer``) and the output checks (``serving.io``, ``features.schema``)
are the single-process path's own functions; this module only carries the source
row numbers across and stacks the four outputs (and history's rejects) into one frame of ``OUTPUT_FIELDS``,
the shape Spark's ``applyInPandas`` returns, told apart by ``kind``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from detectors.anomaly import AccountAnomalies
from detectors.audiences import AudienceParams, find_audiences
from detectors.chance import CHANCE_COLUMNS, WindowChance, chance_frame
from detectors.history import history_rows, with_history
from detectors.infra import PostCommunities, ip_chance
from detectors.model import WindowScorer
from detectors.platform_verdicts import PlatformVerdicts, pair_verdicts
from detectors.pools import PoolChance, pool_chance
from detectors.registry import DETECTORS, WindowContext, post_communities
from detectors.scorer import FOCUSED_COLUMNS, raise_parts, spread_parts
from detectors.seller_ips import IP_PART_COLUMNS, SellerIpEvidence
from detectors.spread import SPREAD_COLUMNS
from features.contract import Cleaned, clean_events
from features.schema import AccountFlags, EngagementVerdicts, PostDecisions, Rejects, checked
from serving.io import accounts_output, engagements_output, posts_output, with_categorical_ids

ROW = "source_row_in_file"  # 1-based data row in the source file, numbered by Spark
SHARD = "shard"  # the shard that decided each output row (an extra output column)
# per raw row: -1 for the window's events, k for the k-th history source (context, never decided)
SOURCE = "_source"
# a shard's part of its platform's engagement graph (``shard_pairs``)
PAIR_COLUMNS = ("platform", "user_id", "post_id", "creator_id")
# where a pair first comes in the single process's window: history (1) after the window (0), then by
# its first row in its source file (the group tests' answer can depend on the order of their rows)
PAIR_ORDER = ("first_is_history", "first_row")
KINDS = ("engagements", "posts", "accounts", "rejects", "history_rejects")

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
    ("held", "boolean"),
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
    drop = [c for c in (ROW, SHARD, SOURCE) if c in ordered]
    ordered = with_categorical_ids(ordered.drop(columns=drop))
    cleaned = clean_events(ordered, source=source)
    for frame in (cleaned.frame, cleaned.rejects):
        # clean_events numbers the shard's rows 1..n: map them back to the file's rows
        frame["source_row"] = rows[frame["source_row"].to_numpy(dtype=np.int64) - 1]
    return cleaned


@dataclass(frozen=True)
class ShardRows:
    """A shard's rows cleaned: its window's and its history's (``SOURCE``), each with their rejects."""

    shard: str
    window: Cleaned
    history: Cleaned | None  # None: no history row in the shard

    def engagements(self) -> pd.DataFrame:
        """The distinct engagements the scorer takes: the window's, with history marked
        (``detectors.history.with_history``) when the shard holds any."""
        frame = self.window.frame
        history = self.history.frame if self.history is not None else None
        if history is None and not len(frame):
            return frame
        return with_history(frame, history)

    def has_window(self) -> bool:
        """The shard holds some valid event of the window (else nothing of it is decided)."""
        return len(self.window.frame) > 0


def shard_rows(raw: pd.DataFrame, *, source: str, history: tuple[str, ...] = ()) -> ShardRows:
    """A shard's raw rows cleaned, the window's against ``source``, history rows against their own
    source (``history[k]`` for ``SOURCE`` k), in source order, as the single process reads them."""
    shard = str(raw[SHARD].iloc[0]) if len(raw) else ""
    if SOURCE not in raw:
        return ShardRows(shard, clean_shard_events(raw, source=source), None)
    which = raw[SOURCE].to_numpy(dtype=np.int64)
    window = clean_shard_events(raw.loc[which < 0], source=source)
    parts = [clean_shard_events(raw.loc[which == k], source=name) for k, name in enumerate(history)]
    if not any(len(part.frame) or len(part.rejects) for part in parts):
        return ShardRows(shard, window, None)
    return ShardRows(
        shard,
        window,
        Cleaned(
            frame=pd.concat([p.frame for p in parts], ignore_index=True),
            rejects=pd.concat([p.rejects for p in parts], ignore_index=True),
        ),
    )


@dataclass(frozen=True)
class ShardInputs:
    """What every shard of a run is given besides its rows: the scorer, the sources, the small tables.

    ``history`` names the history sources (``SOURCE`` k is ``history[k]``); ``reputation`` is the
    known subjects of a reputation file for the window (``detectors.reputation.known_for``).
    """

    scorer: WindowScorer
    source: str
    history: tuple[str, ...] = ()
    posts: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    reputation: pd.DataFrame | None = None
    # per platform split along its graph: its pool chance model and its per-platform detectors'
    # verdicts on its whole graph (``platform_models``)
    pools: dict[str, PoolChance] | None = None
    verdicts: dict[str, dict[str, PlatformVerdicts]] | None = None
    # the creators of the platforms split along their graph (``WindowChance.creators``)
    creators: pd.Index | None = None
    # per device of a split platform seen by more accounts than a household: its window's accounts
    devices: pd.Series | None = None
    # the own addresses of the split platforms' posts, found on each whole platform (``POST_ONLY_COLUMNS``)
    post_only: pd.DataFrame | None = None
    # the window's unusual accounts, the anomaly model run once on its accounts (``scaleout.window_accounts``)
    anomaly: AccountAnomalies | None = None
    # a trained scorer's stacker: the window's account features it reads (``STACKED_FEATURES`` over every
    # row, ``scaleout.window_accounts.with_window_accounts``); None: no stacker
    stacked: pd.DataFrame | None = None

    def with_pools(self, chance: WindowChance | None) -> WindowChance | None:
        """The joined window statistics with the split platforms' pool chance models, per-platform
        verdicts, creators, devices and posts' own addresses, the window's unusual accounts and the
        stacker's account features."""
        if chance is not None and self.anomaly is not None:
            chance = replace(chance, anomaly=self.anomaly)
        if chance is not None and self.stacked is not None:
            chance = replace(chance, account_features=self.stacked)
        if chance is None or (not self.pools and not self.verdicts and self.devices is None):
            return chance
        chance = replace(chance, creators=self.creators, post_only=self.post_only)
        return replace(chance, pools=self.pools, verdicts=self.verdicts, devices=self.devices)

    def rows(self, raw: pd.DataFrame) -> ShardRows:
        """The shard's rows cleaned (``shard_rows``)."""
        return shard_rows(raw, source=self.source, history=self.history)

    def studios(self) -> pd.Series | None:
        """post_id to studio_id of the posts table (``WindowContext.studios``)."""
        return WindowContext(
            pd.DataFrame(), posts=self.posts, fitted=None, audience=AudienceParams()
        ).studios()

    def posts_of(self, engagements: pd.DataFrame) -> pd.DataFrame | None:
        """The posts rows of the shard's posts, and of its accounts' own posts: an account that created a
        post no engagement of the shard reached is a creator to the seller-IP rule, as the whole posts
        table makes it in the single process (``detectors.scorer.detections._creators``)."""
        if self.posts is None:
            return None
        posts = self.posts
        kept = posts["post_id"].isin(engagements["post_id"].cat.categories)
        if "creator_id" in posts and "user_id" in engagements:
            kept |= posts["creator_id"].isin(engagements["user_id"].astype("category").cat.categories)
        return posts[kept]


def shard_chance(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The window statistics of one shard's raw rows as a part (``detectors.chance``), with ``SHARD``.

    With history the statistics are the union's, as the single process's detectors see it, and with
    ``IpFarmParams.window_alone`` the IP statistics of the window's own rows too.
    """
    rows = inputs.rows(raw)
    engagements = rows.engagements()
    alone = inputs.scorer.params.detectors.ip_farm.window_alone and bool(inputs.history)
    if len(engagements):
        communities = _communities(engagements, inputs=inputs)
        part = chance_frame(engagements, communities=communities, window_alone=alone)
    else:
        part = pd.DataFrame(columns=list(CHANCE_COLUMNS))
    part.insert(0, SHARD, rows.shard)
    return part.astype({"statistic": object, "key": object})


def _communities(engagements: pd.DataFrame, *, inputs: ShardInputs) -> PostCommunities:
    """Per row its post's audience community, as the shard's scorer will find it: its platforms'
    own, or a split platform's whole (``ShardInputs.pools``)."""
    pools = WindowChance(ip=ip_chance(engagements.iloc[:0]), lockstep=None, pools=inputs.pools)
    context = WindowContext(
        engagements,
        posts=inputs.posts_of(engagements),
        fitted=None,
        audience=inputs.scorer.params.audience,
        chance=pools,
    )
    return post_communities(engagements, context)


def shard_pairs(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """A shard's distinct (platform, account, post, creator) rows: its part of its platform's
    engagement graph, from which ``platform_models`` builds the platform's models."""
    engagements = inputs.rows(raw).engagements()
    columns = list(PAIR_COLUMNS)
    if not len(engagements):
        return pd.DataFrame(columns=[*columns, *PAIR_ORDER])
    # the shard's rows come in the single process's order: the window's by source row, then history's
    frame = engagements[columns].dropna(subset=["user_id", "post_id"])
    frame = frame.drop_duplicates(["user_id", "post_id"])
    at = engagements.index.get_indexer(frame.index)
    is_history = history_rows(engagements)
    pairs = pd.DataFrame({c: frame[c].astype("str").astype(object).to_numpy() for c in columns})
    pairs[PAIR_ORDER[0]] = is_history[at].astype(np.int64) if is_history is not None else 0
    pairs[PAIR_ORDER[1]] = engagements["source_row"].to_numpy(dtype=np.int64)[at]
    return pairs


def shard_devices(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """A shard's distinct (device_id, user_id) pairs, for a device's accounts over the window."""
    engagements = inputs.rows(raw).engagements()
    if not len(engagements) or "device_id" not in engagements:
        return pd.DataFrame(columns=["device_id", "user_id"])
    frame = engagements[["device_id", "user_id"]].dropna().drop_duplicates()
    return pd.DataFrame({c: frame[c].astype("str").astype(object).to_numpy() for c in frame.columns})


def platform_models(pairs: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """One platform's models from its shards' pairs, pickled: the pool test's chance model
    (``detectors.pools.pool_chance``; null when the platform holds too few light accounts) and the
    verdicts of each per-platform detector on the platform's whole graph (``platform_verdicts``),
    and the platform's creators. Columns platform, model, verdicts, creators."""
    if not len(pairs):
        return pd.DataFrame({"platform": [], "model": [], "verdicts": [], "creators": []})
    platform = str(pairs["platform"].iloc[0])
    # Spark gives the rows in any order: the single process's where the shards said it (``PAIR_ORDER``)
    order = [c for c in PAIR_ORDER if c in pairs]
    ordered = pairs.sort_values([*order, "creator_id", "post_id", "user_id"], ignore_index=True)
    frame = with_categorical_ids(ordered.drop(columns=order))
    params = inputs.scorer.params
    audiences = find_audiences(frame, studios=inputs.studios(), params=params.audience)
    model = pool_chance(frame, params=params.detectors.pool, audiences=audiences)
    verdicts = platform_verdicts(frame, inputs=inputs, model=model)
    return pd.DataFrame(
        {
            "platform": [platform],
            "model": [pickle.dumps(model) if model is not None else None],
            "verdicts": [pickle.dumps(verdicts)],
            "creators": [pickle.dumps(pd.Index(pairs["creator_id"].dropna().unique(), dtype="str"))],
        }
    )


def platform_verdicts(
    frame: pd.DataFrame, *, inputs: ShardInputs, model: PoolChance | None
) -> dict[str, PlatformVerdicts]:
    """Per detector that runs per platform (``DetectorSpec.per_platform``: the dense-block and pool
    tests), its verdicts on one platform's distinct (account, post, creator) rows ``frame``, run as
    the scorer runs it, with the platform's pool chance ``model`` (on the whole platform the model
    gives the test's own answer, ``tests/scaleout/test_pool_chance.py``)."""
    platform = str(frame["platform"].iloc[0])
    params = inputs.scorer.params
    chance = WindowChance(
        ip=ip_chance(frame.iloc[:0]), lockstep=None, pools={platform: model} if model else None
    )
    context = WindowContext(
        frame, posts=inputs.posts_of(frame), fitted=None, audience=params.audience, chance=chance
    )
    return {
        spec.name: pair_verdicts(frame, spec.run(frame, params.detectors.of(spec.name), context))
        for spec in DETECTORS
        if spec.per_platform
    }


def shard_bounds(raw: pd.DataFrame, *, inputs: ShardInputs) -> pd.DataFrame:
    """The first valid ``ts`` of the shard's window and of its history (microseconds; null: none).

    Over all shards, the window's start and its context's, from which a reputation file is read.
    """
    rows = inputs.rows(raw)
    frames = (rows.window.frame, rows.history.frame if rows.history is not None else None)
    first = [
        int(f["ts"].min().value // 1000) if f is not None and f["ts"].notna().any() else None for f in frames
    ]
    return pd.DataFrame({SHARD: [rows.shard], "window_us": [first[0]], "history_us": [first[1]]}).astype(
        {"window_us": "Int64", "history_us": "Int64"}
    )


# the first pass's output (``shard_spread``): three parts of a shard stacked, each row naming its ``PART``
# and filling that part's columns only (the others null): the spreading evidence (``SPREAD_COLUMNS``),
# the seller-IP evidence (``IP_PART_COLUMNS``) and the detections the seller-IP rule's second-round pass
# reads (``FOCUSED_COLUMNS``)
PART = "part"
FOCUSED = "focused"
FIRST_PASS_PARTS: dict[str, tuple[str, ...]] = {
    "spread": SPREAD_COLUMNS,
    "seller_ips": IP_PART_COLUMNS,
    FOCUSED: FOCUSED_COLUMNS,
}
# every column of the three parts, with its Spark SQL type
FIRST_PASS_FIELDS: tuple[tuple[str, str], ...] = (
    (SHARD, "string"),
    (PART, "string"),
    ("detector", "string"),
    ("user_id", "string"),
    ("caught", "long"),
    ("total", "long"),
    ("strongest", "double"),
    ("evidence", "string"),
    ("platform", "string"),
    ("ip", "string"),
    ("farm", "long"),
    ("posts", "long"),
    ("row", "long"),
    ("score", "double"),
)
# the pandas type of a Spark SQL type in the parts' frames (nullable: a part leaves other parts' columns null)
PANDAS_TYPES: dict[str, str | type[object]] = {
    "string": object,
    "int": "Int64",
    "long": "Int64",
    "double": "float64",
}


def first_pass_ddl() -> str:
    """``FIRST_PASS_FIELDS`` as the schema string ``applyInPandas`` takes."""
    return ", ".join(f"`{name}` {kind}" for name, kind in FIRST_PASS_FIELDS)


def shard_spread(raw: pd.DataFrame, *, inputs: ShardInputs, chance: WindowChance | None) -> pd.DataFrame:
    """One shard's part of the window's spreading and seller-IP evidence and its detections as the
    seller-IP rule reads them (``scorer.spread_parts``), stacked as ``FIRST_PASS_FIELDS``: each row's
    ``PART`` names which (``FIRST_PASS_PARTS``)."""
    rows = inputs.rows(raw)
    engagements = rows.engagements()
    found = [pd.DataFrame(columns=list(columns)) for columns in FIRST_PASS_PARTS.values()]
    if rows.has_window():
        scorer = inputs.scorer
        found = list(
            spread_parts(
                engagements,
                params=scorer.params,
                posts=inputs.posts_of(engagements),
                fitted=scorer.fitted,
                reputation=inputs.reputation,
                chance=inputs.with_pools(chance),
                window_alone=scorer.params.spread.window_alone and bool(inputs.history),
            )
        )
    named = [frame.assign(**{PART: name}) for name, frame in zip(FIRST_PASS_PARTS, found, strict=True)]
    part = pd.concat(named, ignore_index=True)
    part[SHARD] = rows.shard
    columns = [name for name, _ in FIRST_PASS_FIELDS]
    return part.reindex(columns=columns).astype({n: PANDAS_TYPES[k] for n, k in FIRST_PASS_FIELDS})


# a shard's part of the seller-IP rule's second-round window (``shard_raises``): ``ip_part``'s rows and
# per account with a first-round raise its ``raised`` score (no address)
RAISE_COLUMNS = ("platform", "ip", "user_id", "strongest", "posts", "raised")


def shard_raises(
    raw: pd.DataFrame, *, inputs: ShardInputs, chance: WindowChance | None, focused: pd.DataFrame
) -> pd.DataFrame:
    """One shard's part of the seller-IP rule's second-round window (``scorer.raise_parts``), spread
    with the joined window (``chance``) from the first pass's detections (``focused``: the shard's
    ``FOCUSED_COLUMNS``), as ``RAISE_COLUMNS`` with ``SHARD``: only the rows the window's second
    round reads (``spanning_rows``)."""
    rows = inputs.rows(raw)
    if not rows.has_window():
        part = pd.DataFrame(columns=list(RAISE_COLUMNS))
    else:
        engagements = rows.engagements()
        part = raise_parts(
            engagements.drop(columns=["event_id"], errors="ignore"),
            params=inputs.scorer.params,
            focused=focused,
            posts=inputs.posts_of(engagements),
            chance=inputs.with_pools(chance),
        )
        part = spanning_rows(part, chance.seller_ips if chance is not None else None)
    part = part.reindex(columns=list(RAISE_COLUMNS))
    part.insert(0, SHARD, rows.shard)
    return part.astype(
        {
            "platform": object,
            "ip": object,
            "user_id": object,
            "strongest": "float64",
            "posts": "Int64",
            "raised": "float64",
        }
    )


def spanning_rows(part: pd.DataFrame, window: SellerIpEvidence | None) -> pd.DataFrame:
    """The rows of a shard's ``raise_parts`` the window's second round reads
    (``scaleout.window_parts.second_round_counts``, which counts only what spans shards): those of an
    address in several shards (``window.ips``), and an account's posts and raise when it is in several
    shards (``window.posts``) or used such an address here."""
    if window is None:
        return part.iloc[:0]
    key = ["platform", "ip"]
    spans = pd.MultiIndex.from_frame(window.ips[key].astype("str"))
    has_ip = part["ip"].notna().to_numpy()
    through = part[has_ip]
    on_spanning = through[pd.MultiIndex.from_frame(through[key].astype("str")).isin(spans)]
    accounts = pd.MultiIndex.from_frame(window.posts[["platform", "user_id"]].astype("str")).append(
        pd.MultiIndex.from_frame(on_spanning[["platform", "user_id"]].astype("str"))
    )
    own = part[~has_ip]
    own = own[pd.MultiIndex.from_frame(own[["platform", "user_id"]].astype("str")).isin(accounts)]
    return pd.concat([on_spanning, own], ignore_index=True)


def score_shard(
    raw: pd.DataFrame, *, inputs: ShardInputs, chance: WindowChance | None = None
) -> pd.DataFrame:
    """The outputs of one shard's raw rows, stacked as ``OUTPUT_FIELDS`` (see the module).

    ``chance``: the whole window's statistics (``detectors.chance``), so that the shard's
    detectors measure chance against the window, not against the shard. History rows are
    context: the outputs cover the window's rows; history's rejects are ``history_rejects``.
    """
    rows = inputs.rows(raw)
    shard = rows.shard
    parts = [("rejects", checked(rows.window.rejects, Rejects, where=f"{shard} rejects"))]
    if rows.history is not None:
        parts.append(
            ("history_rejects", checked(rows.history.rejects, Rejects, where=f"{shard} history rejects"))
        )
    if rows.has_window():
        engagements = rows.engagements()
        scored = inputs.scorer.score_engagements(
            engagements,
            posts=inputs.posts_of(engagements),
            campaigns=inputs.campaigns,
            reputation=inputs.reputation,
            chance=inputs.with_pools(chance),
        )
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
