"""Reputation: accounts earlier runs and reviews confirmed, as weak evidence about today's window.

The service remembers accounts whose engagements earlier detection runs found
invalid on structural evidence, and the review team's verdicts (a cleared
account is remembered as cleared and is not known). It hands the scorer a
frame of the window's known accounts with their reputation already decayed;
this module only turns it into a detection. ``known_seller`` is a weak signal:
alone it stays under the weak cap, so an account once bought and later used
honestly is paid, while an account a run confirmed adds to a structural signal
found on it now as any weak signal does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.base import Detection
from features.arrays import codes

# the frame the scorer is given: one row per known subject, score already decayed. ``subject_kind``
# is one of SUBJECT_KINDS; a group's subject is a member account. ``cleared_at`` (accounts only)
# is the account's latest clearance: evidence established at or before it does not count, and an
# account row with score 0 says only that (a frame with ``account_id`` and no kind is accounts).
REPUTATION_COLUMNS: tuple[str, ...] = (
    "subject_kind",
    "subject_id",
    "score",
    "source",
    "established_at",
    "detail",
    "cleared_at",
)
# what a subject is matched on in the window, in the order ties are broken
SUBJECT_KINDS: dict[str, str] = {"account": "user_id", "group": "user_id", "device": "device_id", "ip": "ip"}
# how evidence introduces a subject of each kind (its ``detail`` follows, then the source)
_LEAD = {
    "account": "account",
    "group": "account in a",
    "device": "account on a device",
    "ip": "account behind an IP",
}
_DEFAULT_DETAIL = {"account": "", "group": "seller group", "device": "farm", "ip": "farm"}


@dataclass(frozen=True)
class KnownSellerParams:
    """No knob of its own: the decay is the service's setting (``reputation_half_life_days``), and the
    policy's weak cap bounds what it adds to an engagement."""


def known_sellers(engagements: pd.DataFrame, *, reputation: pd.DataFrame | None) -> Detection:
    """Per engagement: the strongest decayed reputation of its account, device, IP or group (0: none).

    ``reputation`` has ``REPUTATION_COLUMNS``. Each known subject present is a
    group whose evidence names the run or case that established it: "account
    confirmed by run R on 2026-11-20 (decayed 0.60)", "account on a device farm
    of 12 accounts confirmed by run R on ...". A device, IP or group confirmed
    at or before the account's own clearance does not count for it. Without
    reputation (None or empty) the detection is empty.
    """
    n = len(engagements)
    if reputation is None or reputation.empty or n == 0:
        return Detection.empty("known_seller", n)
    known = _as_known(reputation)
    cleared_at = _account_clearances(engagements, known)
    scores, rows, parts = [], [], []
    for kind, column in SUBJECT_KINDS.items():
        part = known.loc[(known["subject_kind"] == kind) & (known["score"] > 0)].reset_index(drop=True)
        if column not in engagements or part.empty:
            continue
        row = _rows_of(engagements[column], part["subject_id"])
        established = part["established_at"].to_numpy(dtype="datetime64[ns]")
        if kind != "account" and cleared_at is not None:
            at = np.where(row >= 0, established[np.maximum(row, 0)], np.datetime64("NaT"))
            row = np.where(at <= cleared_at, -1, row)  # NaT compares False: no clearance, kept
        scores.append(np.where(row >= 0, part["score"].to_numpy(dtype=np.float64)[np.maximum(row, 0)], 0.0))
        rows.append(row)
        parts.append(part)
    if not parts:
        return Detection.empty("known_seller", n)
    return _detection(engagements, np.vstack(scores), np.vstack(rows), parts)


def _as_known(reputation: pd.DataFrame) -> pd.DataFrame:
    """``reputation`` in ``REPUTATION_COLUMNS`` (an accounts-only frame named ``account_id`` taken as is)."""
    known = reputation
    if "subject_kind" not in known:
        known = known.rename(columns={"account_id": "subject_id"}).assign(subject_kind="account")
    if "detail" not in known:
        known = known.assign(detail="")
    if "cleared_at" not in known:
        known = known.assign(cleared_at=None)
    known = known.assign(
        subject_id=known["subject_id"].astype("str"),
        score=np.clip(known["score"].to_numpy(dtype=np.float64), 0.0, 1.0),
        established_at=pd.to_datetime(known["established_at"], utc=True).dt.tz_localize(None),
        cleared_at=pd.to_datetime(known["cleared_at"], utc=True).dt.tz_localize(None),
    )
    return known.drop_duplicates(["subject_kind", "subject_id"], keep="first")[list(REPUTATION_COLUMNS)]


def _account_clearances(engagements: pd.DataFrame, known: pd.DataFrame) -> np.ndarray | None:
    """Per engagement: its account's latest clearance (NaT: none); None when no account was cleared."""
    cleared = known.loc[(known["subject_kind"] == "account") & known["cleared_at"].notna()].reset_index(
        drop=True
    )
    if cleared.empty:
        return None
    row = _rows_of(engagements["user_id"], cleared["subject_id"])
    at = cleared["cleared_at"].to_numpy(dtype="datetime64[ns]")
    return np.where(row >= 0, at[np.maximum(row, 0)], np.datetime64("NaT"))


def _rows_of(values: pd.Series, subjects: pd.Series) -> np.ndarray:
    """Per row of ``values``: the position of its value in ``subjects`` (-1: not there)."""
    value_codes = codes(values)
    labels = _labels(values)
    if not len(labels):
        return value_codes
    row_of_label = pd.Index(subjects).get_indexer(labels)
    return np.where(value_codes >= 0, row_of_label[np.maximum(value_codes, 0)], -1)


def _detection(
    engagements: pd.DataFrame, scores: np.ndarray, rows: np.ndarray, parts: list[pd.DataFrame]
) -> Detection:
    """The strongest subject of each engagement (ties: the first kind), one group per subject found."""
    n = scores.shape[1]
    best = np.argmax(scores, axis=0)
    score = scores[best, np.arange(n)]
    row = np.where(score > 0, rows[best, np.arange(n)], -1)
    offsets = np.cumsum([0, *(len(p) for p in parts)])
    key = np.where(row >= 0, offsets[best] + row, -1)
    present = np.unique(key[key >= 0])
    group = np.full(n, -1, dtype=np.int64)
    group[key >= 0] = np.searchsorted(present, key[key >= 0])
    table = pd.concat(parts, ignore_index=True).iloc[present].reset_index(drop=True)
    hit = group >= 0
    counts = np.bincount(group[hit], minlength=len(present))
    posts = pd.Series(codes(engagements["post_id"])[hit]).groupby(group[hit]).nunique()
    accounts = pd.Series(codes(engagements["user_id"])[hit]).groupby(group[hit]).nunique()
    groups = pd.DataFrame(
        {
            "group_id": np.arange(len(present), dtype=np.int64),
            "n_accounts": accounts.reindex(range(len(present)), fill_value=0).to_numpy(dtype=np.int64),
            "n_posts": posts.reindex(range(len(present)), fill_value=0).to_numpy(dtype=np.int64),
            "n_engagements": counts.astype(np.int64),
            "evidence": _sentences(table),
        }
    )
    return Detection("known_seller", score, group, groups)


def _sentences(table: pd.DataFrame) -> list[str]:
    """Per subject: 'account on a device farm of 12 accounts confirmed by run R on 2026-11-20
    (decayed 0.60)'."""
    if table.empty:
        return []
    kind = table["subject_kind"].astype("str")
    detail = table["detail"].fillna("").astype("str")
    detail = detail.where(detail != "", kind.map(_DEFAULT_DETAIL))
    who: pd.Series = kind.map(_LEAD) + np.where(detail == "", "", " " + detail)
    day = pd.to_datetime(table["established_at"]).dt.strftime("%Y-%m-%d")
    score = table["score"].map("{:.2f}".format)
    return list(
        who + " confirmed by " + table["source"].astype("str") + " on " + day + " (decayed " + score + ")"
    )


def _labels(values: pd.Series) -> pd.Index:
    """The values ``codes`` numbers, as strings in code order."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Index(values.cat.categories.astype("str"))
    return pd.Index(pd.factorize(values)[1].astype("str"))


# what a run or a review established about one subject (the service's rows, the reputation file's
# columns): state ``confirmed`` or ``cleared``; source_kind ``run`` or ``case``; ``detail`` describes
# a farm or group ("pool group of 14 accounts"), empty for an account
ENTRY_COLUMNS: tuple[str, ...] = (
    "subject_kind",
    "subject_id",
    "platform",
    "state",
    "established_at",
    "source_kind",
    "source_id",
    "detail",
)
CONFIRMED = "confirmed"
CLEARED = "cleared"
_DAY_S = 86_400.0


def readable(entries: pd.DataFrame, *, start: object, context_start: object) -> np.ndarray:
    """Which entries a window starting at ``start`` whose context starts at ``context_start`` may read.

    A run's entry only when established before the context: inside it the detectors
    see that evidence themselves, and counting it twice would make verdicts depend
    on how a period is cut. A review's at or before the window's start.
    """
    at = pd.to_datetime(entries["established_at"], utc=True)
    is_run = (entries["source_kind"].astype("str") == "run").to_numpy()
    before_context = (at < pd.Timestamp(context_start)).to_numpy()  # type: ignore[arg-type]
    before_start = (at <= pd.Timestamp(start)).to_numpy()  # type: ignore[arg-type]
    return np.where(is_run, before_context, before_start)


def known_subjects(entries: pd.DataFrame, *, as_of: object, half_life_days: float) -> pd.DataFrame:
    """The known subjects (``REPUTATION_COLUMNS``): each one's latest standing confirmation, decayed.

    ``entries`` has ``ENTRY_COLUMNS``. A clearance voids the confirmations of
    the same subject established at or before it; an account's clearance also
    travels with the account (``cleared_at``), so its device, IP or group
    evidence from before it does not count for it.
    """
    entries = entries.assign(
        subject_id=entries["subject_id"].astype("str"),
        established_at=pd.to_datetime(entries["established_at"], utc=True),
    )
    is_cleared = (entries["state"] == CLEARED).to_numpy()
    key = entries["subject_kind"].astype("str") + "\x1f" + entries["subject_id"]
    last_cleared = entries.loc[is_cleared, "established_at"].groupby(key[is_cleared]).max()
    cleared_at = pd.to_datetime(key.map(last_cleared.to_dict()), utc=True)
    void = (cleared_at.notna() & (entries["established_at"] <= cleared_at)).to_numpy()
    standing = entries.loc[~is_cleared & ~void]
    age_days = (pd.Timestamp(as_of) - standing["established_at"]).dt.total_seconds() / _DAY_S  # type: ignore[arg-type]
    scored = standing.assign(
        score=decayed(age_days.to_numpy(dtype=np.float64), half_life_days=half_life_days),
        source=[
            source_name(k, i) for k, i in zip(standing["source_kind"], standing["source_id"], strict=True)
        ],
    )
    best = scored.sort_values(
        ["subject_kind", "subject_id", "score", "source"], ascending=[True, True, False, True]
    )
    best = best.drop_duplicates(["subject_kind", "subject_id"], keep="first")
    return _with_clearances(best, entries.loc[is_cleared])


def _with_clearances(best: pd.DataFrame, clearances: pd.DataFrame) -> pd.DataFrame:
    """``best`` with each account's latest clearance (``cleared_at``), and a score-0 row for an
    account cleared and not confirmed since."""
    clearances = clearances.loc[clearances["subject_kind"] == "account"]
    cleared_at = clearances.groupby("subject_id")["established_at"].max()
    only_cleared = cleared_at.loc[
        ~cleared_at.index.isin(best.loc[best["subject_kind"] == "account", "subject_id"])
    ]
    best = pd.concat(
        [
            best,
            pd.DataFrame(
                {
                    "subject_kind": "account",
                    "subject_id": only_cleared.index.astype("str"),
                    "score": 0.0,
                    "source": "",
                    "established_at": only_cleared.to_numpy(),
                    "detail": "",
                }
            ),
        ],
        ignore_index=True,
    )
    is_account = (best["subject_kind"] == "account").to_numpy()
    cleared = pd.to_datetime(best["subject_id"].map(cleared_at.to_dict()), utc=True)
    best["cleared_at"] = cleared.where(is_account)
    return best[list(REPUTATION_COLUMNS)].reset_index(drop=True)


def known_for(
    entries: pd.DataFrame, *, start: object, context_start: object, half_life_days: float
) -> pd.DataFrame | None:
    """What a window starting at ``start`` (context from ``context_start``) knows: the readable entries'
    known subjects decayed to ``start`` (None: nothing readable)."""
    mine = entries.loc[readable(entries, start=start, context_start=context_start)]
    if mine.empty:
        return None
    return known_subjects(mine, as_of=start, half_life_days=half_life_days)


def source_name(kind: str, source_id: str) -> str:
    """How evidence names what established a reputation."""
    return f"run {source_id}" if kind == "run" else f"review case {source_id}"


def decayed(age_days: np.ndarray, *, half_life_days: float, strength: np.ndarray | float = 1.0) -> np.ndarray:
    """``strength`` halved every ``half_life_days`` of age (an age below 0 counts as 0)."""
    return np.asarray(strength, dtype=np.float64) * np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)


__all__ = [
    "CLEARED",
    "CONFIRMED",
    "ENTRY_COLUMNS",
    "REPUTATION_COLUMNS",
    "SUBJECT_KINDS",
    "KnownSellerParams",
    "decayed",
    "known_for",
    "known_sellers",
    "known_subjects",
    "readable",
    "source_name",
]
