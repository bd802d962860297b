"""Window statistics: what the window-scope detectors measure chance against, computed once per window.

Two window-scope detectors judge a pattern against the whole window they are
given, not only against the rows the pattern lies in:

- ``ip_farm`` (``detectors.infra.ip_chance``): the account-post pairs behind each
  IP on each audience community's posts across the window, and each community's
  account-post pairs; an IP's expected accounts on a post of community ``c`` are
  ``pairs_ip,c x accounts_post / pairs_c``. Communities are labelled by platform
  and number (``detectors.registry.post_communities``), the same in every shard.
- ``lockstep`` (``detectors.lockstep.lockstep_chance``): the window's first
  engagement time, where its grid of (post, time window) tokens starts, and the
  window's engagements, the denominator of an account's expected presence in a
  group's windows.

One window-scope rule counts over the whole window: ``scripted`` (``detectors.rules.scripted_actions``)
calls a comment text a template once enough accounts of the window post it, wherever their posts are;
its statistic is each (normalised text, account)'s comments in the window's own rows.

A scorer given one shard of a window (``scaleout``) would otherwise measure
chance against the shard. Each statistic here is a sum over posts (or, for the
grid origin, a minimum), and a shard plan never splits a post, so the window's
statistics are the combination of its shards' (``STATISTICS`` says how):
Spark computes each shard's part, combines them and joins the result into every
shard (``scaleout.job``). On one machine the detectors compute the same
statistics themselves from the window, with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from detectors.history import history_rows
from detectors.infra import KEY_SEPARATOR, IpChance, PostCommunities, ip_chance
from detectors.lockstep import LockstepChance, lockstep_chance
from features.account_features import comment_texts

if TYPE_CHECKING:
    from detectors.anomaly import AccountAnomalies
    from detectors.platform_verdicts import PlatformVerdicts
    from detectors.pools import PoolChance
    from detectors.seller_ips import SellerIpEvidence

# each statistic, and how the parts of a window combine into the window's
STATISTICS: dict[str, str] = {
    "ip_pairs_per_key": "sum",  # per IP and audience community: distinct account-post pairs
    "ip_pairs": "sum",  # per audience community: distinct account-post pairs
    # the same two over the window's own rows, without history's (``IpFarmParams.window_alone``; only
    # when it is on and the window has history)
    "ip_window_pairs_per_key": "sum",
    "ip_window_pairs": "sum",
    "lockstep_t0_us": "min",  # first engagement time, microseconds since the epoch
    "lockstep_engagements": "sum",  # distinct (account, post) with a time
    # per normalised comment text and account (key text, ``KEY_SEPARATOR``, account): its comments in
    # the window's own rows (``scripted`` judges those, not history's: ``DetectorSpec.history``)
    "text_comments": "sum",
}
# statistics every shard reads whole (each shard otherwise reads only the keys it holds, and for
# ``ip_pairs_per_key`` every community of the IPs it holds)
EVERY_SHARD = ("ip_pairs", "ip_window_pairs")
# statistics a shard reads by the first part of their key, every key with it: an IP's pairs in every
# community (its reach, ``detectors.infra``), and a comment text's every account
BY_FIRST_PART = ("ip_pairs_per_key", "ip_window_pairs_per_key", "text_comments")
# a statistics frame: one row per statistic and key ("" for a statistic of the whole window)
CHANCE_COLUMNS = ("statistic", "key", "value")


@dataclass(frozen=True)
class WindowChance:
    """The window statistics of ``STATISTICS``, as the detectors take them."""

    ip: IpChance
    lockstep: LockstepChance | None  # None: no usable engagement in the window
    # ``ip`` of the window's own rows, without history's (``IpFarmParams.window_alone``); None: not
    # gathered (no history, or the knob off)
    ip_window: IpChance | None = None
    # the window's spreading evidence per detector and account (``detectors.spread.SPREAD_COLUMNS``),
    # when a split platform's accounts engage in several shards; None: the shard's own
    spread: pd.DataFrame | None = None
    # per platform split along its graph: the pool test's chance model of the whole platform
    # (``detectors.pools.pool_chance``; its audiences serve the dense-block test too); None: the shard's own
    pools: dict[str, PoolChance] | None = None
    # per device id seen by more accounts than a household in a split platform's shards: its accounts
    # over the window (their (device, account) pairs unioned over the shards); None: the shard's own
    devices: pd.Series | None = None
    # per platform split along its graph and per detector that runs per platform: its verdicts found
    # on the whole platform's graph (``detectors.platform_verdicts``), which each shard reads instead
    # of running the detector on its part; None: the shard's own
    verdicts: dict[str, dict[str, PlatformVerdicts]] | None = None
    # the creators of the platforms split along their graph: an account whose own posts are in
    # another shard is a creator's own account too (``detectors.spread``); None: the shard's own
    creators: pd.Index | None = None
    # the window's counts of the addresses and accounts of split platforms that span shards, for the
    # seller-IP rule (``detectors.seller_ips.SellerIpEvidence``); None: the shard's own
    seller_ips: SellerIpEvidence | None = None
    # the own addresses of split platforms' posts, found on each whole platform
    # (``detectors.post_only_ips.post_only_addresses``); None: none
    post_only: pd.DataFrame | None = None
    # per normalised comment text (``features.account_features.comment_texts``) of the window's own
    # rows: its accounts over the window (the ``text_comments`` statistic); None: the shard's own
    comment_accounts: pd.Series | None = None
    # the window's unusual accounts (``detectors.registry.anomalous_accounts``), the anomaly model fitted
    # once on the window's account features (``scaleout.window_accounts``); None: the shard's own
    anomaly: AccountAnomalies | None = None
    # the account features a trained scorer's supervised stacker reads (``STACKED_FEATURES``),
    # counted over the window's accounts (``scaleout.window_accounts``); None: the shard's own
    account_features: pd.DataFrame | None = None


def chance_frame(
    engagements: pd.DataFrame, *, communities: PostCommunities | None = None, window_alone: bool = False
) -> pd.DataFrame:
    """The statistics of a window (or of one shard of it, as a part) as a ``CHANCE_COLUMNS`` frame.

    ``communities``: per row its post's audience community (None: the window is one audience);
    ``window_alone``: the IP statistics of the window's own rows too (``ip_window_pairs...``).
    """
    rows = _ip_rows(ip_chance(engagements, communities=communities), "ip")
    if window_alone:
        rows += _ip_rows(_window_ip_chance(engagements, communities), "ip_window")
    lockstep = lockstep_chance(engagements)
    if lockstep is not None:
        rows += [
            _scalar("lockstep_t0_us", lockstep.t0_us),
            _scalar("lockstep_engagements", lockstep.engagements),
        ]
    rows.append(_text_comments(engagements))
    frame = pd.concat(rows, ignore_index=True)
    return frame.astype({"statistic": "str", "key": "str", "value": "int64"})[list(CHANCE_COLUMNS)]


def _ip_rows(found: IpChance, prefix: str) -> list[pd.DataFrame]:
    """``found`` as the ``{prefix}_pairs_per_key`` and ``{prefix}_pairs`` rows of a statistics frame."""
    return [
        pd.DataFrame(
            {
                "statistic": f"{prefix}_pairs_per_key",
                "key": found.pairs_per_key.index,
                "value": found.pairs_per_key,
            }
        ),
        pd.DataFrame(
            {
                "statistic": f"{prefix}_pairs",
                "key": found.pairs_per_community.index,
                "value": found.pairs_per_community,
            }
        ),
    ]


def _window_ip_chance(engagements: pd.DataFrame, communities: PostCommunities | None) -> IpChance:
    """``ip_chance`` of the window's own rows (not history's), their posts in the same communities."""
    is_history = history_rows(engagements)
    if is_history is None:
        return ip_chance(engagements, communities=communities)
    own = engagements.loc[~is_history]
    if communities is not None:
        communities = replace(communities, code=communities.code[~is_history])
    return ip_chance(own, communities=communities)


def _text_comments(engagements: pd.DataFrame) -> pd.DataFrame:
    """The ``text_comments`` rows of a window or part: per normalised comment text and account of its
    own rows (not history's), its comments."""
    is_history = history_rows(engagements)
    own = engagements if is_history is None else engagements.loc[~is_history]
    texts, uniques = comment_texts(own)
    at = np.flatnonzero(texts >= 0)
    users = own["user_id"].iloc[at].astype("str").to_numpy(dtype=object)
    keys = pd.Series(uniques[texts[at]].to_numpy(dtype=object) + KEY_SEPARATOR + users, dtype=object)
    counted = keys.value_counts(sort=False)
    return pd.DataFrame({"statistic": "text_comments", "key": counted.index, "value": counted.to_numpy()})


def combine_parts(parts: pd.DataFrame) -> pd.DataFrame:
    """The window's statistics from its parts' (``chance_frame`` of each part, stacked)."""
    frames = []
    for how in sorted(set(STATISTICS.values())):
        names = [s for s, h in STATISTICS.items() if h == how]
        chosen = parts[parts["statistic"].isin(names)]
        frames.append(chosen.groupby(["statistic", "key"], sort=True)["value"].agg(how).reset_index())
    return pd.concat(frames, ignore_index=True)[list(CHANCE_COLUMNS)]


def window_chance(frame: pd.DataFrame) -> WindowChance:
    """``WindowChance`` from a statistics frame (``combine_parts``, or a window's ``chance_frame``)."""
    statistic = frame["statistic"].astype("str")
    ip = IpChance(_keyed(frame[statistic == "ip_pairs_per_key"]), _keyed(frame[statistic == "ip_pairs"]))
    alone = statistic == "ip_window_pairs"
    ip_window = (
        IpChance(_keyed(frame[statistic == "ip_window_pairs_per_key"]), _keyed(frame[alone]))
        if alone.any()
        else None
    )
    t0_us = _value(frame, "lockstep_t0_us")
    engagements = _value(frame, "lockstep_engagements") or 0
    lockstep = None if t0_us is None else LockstepChance(t0_us, engagements)
    return WindowChance(
        ip=ip, lockstep=lockstep, ip_window=ip_window, comment_accounts=_comment_accounts(frame, statistic)
    )


def _comment_accounts(frame: pd.DataFrame, statistic: pd.Series) -> pd.Series:
    """Per normalised comment text: its accounts, from the ``text_comments`` rows (one per account)."""
    keys = frame.loc[statistic == "text_comments", "key"].astype("str")
    texts = keys.str.split(KEY_SEPARATOR, n=1, regex=False).str[0]
    return texts.value_counts(sort=False).astype("int64").rename_axis(None).rename(None)


def _keyed(rows: pd.DataFrame) -> pd.Series:
    """A keyed statistic's rows as a Series of int64 by key (str)."""
    return pd.Series(rows["value"].to_numpy(dtype="int64"), index=pd.Index(rows["key"], dtype="str"))


def _scalar(statistic: str, value: int) -> pd.DataFrame:
    return pd.DataFrame({"statistic": [statistic], "key": [""], "value": [int(value)]})


def _value(frame: pd.DataFrame, statistic: str) -> int | None:
    """A statistic of the whole window (its one row), None when the frame has none."""
    values = frame.loc[frame["statistic"].astype("str") == statistic, "value"]
    return int(values.iloc[0]) if len(values) else None
