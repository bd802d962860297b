"""Per engaging account: rate and breadth, reaction, age, followers, shared infrastructure, text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import codes, distinct
from features.timing import action_triples, china_hour, reaction_s

ACCOUNT_FEATURES: tuple[str, ...] = (
    "n_engagements",
    "n_posts",
    "n_creators",
    "n_campaigns",
    "posts_per_active_day",
    "median_reaction_s",
    "age_days",
    "followers",
    "device_accounts",
    "ip_accounts",
    "duplicate_comment_share",
    "triple_share",
    "night_share",
)
# what ``duplicate_comment_share`` and ``triple_share`` count: part of the features' definition,
# which an anomaly ensemble fitted by training has learned, so fixed with the code, not per run
TEMPLATE_MIN_ACCOUNTS = 3
TEMPLATE_MIN_CHARS = 4
TRIPLE_WITHIN_S = 60.0


@dataclass(frozen=True)
class WindowSharing:
    """How many accounts of the whole window share each device, IP and normalised comment text
    (``comment_texts``), for rows that are only part of the window (``scaleout``): each Series is
    indexed by the value and holds at least the values the rows show."""

    device_accounts: pd.Series
    ip_accounts: pd.Series
    text_accounts: pd.Series


def accounts_sharing(
    engagements: pd.DataFrame, *, column: str, window_accounts: pd.Series | None = None
) -> npt.NDArray[np.float64]:
    """Per event: how many accounts in the window use the same ``column`` value (NaN where missing).

    ``window_accounts``: per value, its accounts over the whole window when ``engagements`` are part
    of it; None: the accounts in ``engagements``.
    """
    n = len(engagements)
    if column not in engagements or engagements[column].isna().all():
        return np.full(n, np.nan)
    if window_accounts is not None:
        values = engagements[column].astype("str")
        known = window_accounts.reindex(values.to_numpy()).to_numpy(dtype=np.float64)
        return np.where(engagements[column].isna().to_numpy(), np.nan, known)
    keys = codes(engagements[column])
    users = codes(engagements["user_id"])
    has = keys >= 0
    width = users.max() + 1
    pair = distinct(keys[has] * width + users[has])
    per_key = np.bincount(pair // width, minlength=keys.max() + 1)
    out = np.full(n, np.nan)
    out[has] = per_key[keys[has]]
    return out


def comment_texts(engagements: pd.DataFrame) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """Per event the code of its normalised comment text (lower case, without punctuation, spaces or
    symbols) in the texts returned, -1 where it has none."""
    n = len(engagements)
    if "comment_text" not in engagements or engagements["comment_text"].isna().all():
        return np.full(n, -1, dtype=np.int64), pd.Index([], dtype="str")
    # normalise each distinct text once: templated comments repeat a handful of texts
    raw_codes, raw_texts = pd.factorize(engagements["comment_text"])
    normalised = pd.Series(raw_texts, dtype="str").str.lower().str.replace(r"[\W_]+", "", regex=True)
    text_of_raw, uniques = pd.factorize(normalised)
    per_event = np.append(text_of_raw, -1)[raw_codes]  # a missing text's code -1 picks the -1 appended
    return per_event.astype(np.int64), pd.Index(uniques, dtype="str")


def duplicated_comments(
    engagements: pd.DataFrame,
    *,
    min_accounts: int,
    min_chars: int,
    window_accounts: pd.Series | None = None,
) -> npt.NDArray[np.bool_]:
    """Per event: a comment whose normalised text (``comment_texts``) was posted by at least
    ``min_accounts`` accounts.

    Texts shorter than ``min_chars`` once normalised ("ok", an emoji) are too
    common to say anything and never count. ``window_accounts``: per normalised text, its accounts
    over the whole window when ``engagements`` are one shard of it (``detectors.chance``); None: the
    accounts in ``engagements``.
    """
    n = len(engagements)
    texts, uniques = comment_texts(engagements)
    is_long = np.append(uniques.str.len().to_numpy() >= min_chars, False)
    has = is_long[texts]  # a missing text's code -1 picks the False appended
    if not has.any():
        return np.zeros(n, dtype=bool)
    if window_accounts is not None:
        per_text = window_accounts.reindex(uniques, fill_value=0).to_numpy(dtype=np.int64)
    else:
        users = codes(engagements["user_id"])[has]
        width = users.max() + 1
        pairs = distinct(texts[has] * width + users)
        per_text = np.bincount(pairs // width, minlength=len(uniques))
    out = np.zeros(n, dtype=bool)
    out[np.flatnonzero(has)] = per_text[texts[has]] >= min_accounts
    return out


def account_features(
    engagements: pd.DataFrame,
    published_at: pd.Series,
    *,
    is_triple: npt.NDArray[np.bool_] | None = None,
    sharing: WindowSharing | None = None,
) -> pd.DataFrame:
    """One row per engaging account (index ``user_id``) with the columns in ``ACCOUNT_FEATURES``
    (``is_triple``: ``_triples(engagements)`` when the caller has it, as the scripted rule does;
    ``sharing``: the whole window's accounts per device, IP and text when ``engagements`` hold all the
    rows of their accounts but not the window, None: counted on ``engagements``)."""
    t = engagements["ts"]
    day = (t.to_numpy(dtype="datetime64[us]").astype(np.int64) // (86_400 * 10**6)).astype(np.int64)
    users, user_ids = pd.factorize(engagements["user_id"], sort=True)
    n_users = len(user_ids)
    out = _medians(engagements, published_at, users)
    n_engagements = np.bincount(users, minlength=n_users)
    for name, column in (("device_accounts", "device_id"), ("ip_accounts", "ip")):
        window = getattr(sharing, name) if sharing is not None else None
        out[name] = _largest(
            users, accounts_sharing(engagements, column=column, window_accounts=window), n_users
        )
    for name, is_hit in (
        (
            "duplicate_comment_share",
            duplicated_comments(
                engagements,
                min_accounts=TEMPLATE_MIN_ACCOUNTS,
                min_chars=TEMPLATE_MIN_CHARS,
                window_accounts=sharing.text_accounts if sharing is not None else None,
            ),
        ),
        ("triple_share", _triples(engagements) if is_triple is None else is_triple),
        ("night_share", np.isin(china_hour(engagements), [2, 3, 4, 5, 6])),
    ):
        out[name] = np.bincount(users, weights=is_hit, minlength=n_users) / n_engagements
    out["n_engagements"] = n_engagements
    for name, values in (
        ("n_posts", codes(engagements["post_id"])),
        ("n_creators", codes(engagements["creator_id"])),
        ("n_campaigns", codes(engagements["campaign_id"])),
        ("active_days", day - day.min(initial=0)),
    ):
        out[name] = _distinct_per_user(users, values, n_users)
    out["posts_per_active_day"] = out["n_posts"] / out["active_days"]
    out.index = pd.Index(user_ids, name="user_id")
    return out[list(ACCOUNT_FEATURES)]


def _medians(engagements: pd.DataFrame, published_at: pd.Series, users: npt.NDArray[np.intp]) -> pd.DataFrame:
    """Per user code: the median reaction (seconds), account age (days) and followers of its events."""
    t = engagements["ts"]
    if "user_created_at" in engagements:
        age = (t - engagements["user_created_at"]).dt.total_seconds().to_numpy() / 86_400
    else:
        age = np.full(len(engagements), np.nan)
    followers = (
        engagements["user_followers"].astype("float64").to_numpy()
        if "user_followers" in engagements
        else np.full(len(engagements), np.nan)
    )
    frame = pd.DataFrame(
        {
            "user": users,
            "median_reaction_s": reaction_s(engagements, published_at),
            "age_days": age,
            "followers": followers,
        }
    )
    return frame.groupby("user", sort=True).median()


def _largest(
    users: npt.NDArray[np.intp], per_event: npt.NDArray[np.float64], n_users: int
) -> npt.NDArray[np.float64]:
    """Per user code: the largest of its events' values, NaN where it has none (as a grouped max)."""
    largest = np.full(n_users, np.nan)
    np.fmax.at(largest, users, per_event)
    return largest


def _triples(engagements: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per event: part of an action triple within ``TRIPLE_WITHIN_S`` (``action_triples``)."""
    return action_triples(engagements, within_s=TRIPLE_WITHIN_S)


def _distinct_per_user(
    users: npt.NDArray[np.intp], values: npt.NDArray[np.int64], n_users: int
) -> npt.NDArray[np.int64]:
    """Per user code: how many distinct ``values`` it has."""
    width = int(values.max(initial=0)) + 1
    pairs = distinct(users.astype(np.int64) * width + values)
    return np.bincount(pairs // width, minlength=n_users).astype(np.int64)
