"""What a scored window confirms for later windows: accounts, farm devices and IPs, seller groups.

Only structural evidence confirms (weak signals, ``known_seller`` among them,
never do, so a reputation cannot keep renewing itself), and a re-count is no
fault of the account. The service stores these as reputation
(``serving.reputation``); ``cpeguard score`` can write them for a reputation file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.params import ScoringParams
from detectors.scorer import ScoredWindow, confirmed_accounts

# the columns of ``confirmed_subjects``' frame (``detectors.reputation.ENTRY_COLUMNS`` without state
# and source, which the caller adds)
CONFIRMED_COLUMNS: tuple[str, ...] = ("subject_kind", "subject_id", "platform", "established_at", "detail")
# group detectors whose groups are seller groups remembered by member
GROUP_DETECTORS: tuple[str, ...] = ("pool", "dense_block", "lockstep", "ring")
# farm detectors and the contract column of what they remember
FARM_COLUMNS: dict[str, tuple[str, str]] = {"device_farm": ("device", "device_id"), "ip_farm": ("ip", "ip")}


def confirmed_subjects(window: ScoredWindow, *, params: ScoringParams) -> pd.DataFrame:
    """Every subject the window confirmed on structural evidence (``CONFIRMED_COLUMNS``).

    - accounts: ``confirmed_accounts``;
    - a device or IP: at least as many accounts as a farm needs (``device_farm.household_accounts``
      + 1, ``ip_farm.min_accounts``) reach the cut through the farm detector on that very value
      (an account's other devices, reached by spreading, are not the farm's);
    - a group of a group detector whose strongest engagement reaches the cut: each member account
      caught at ``spread.min_caught_score`` or more, with the group's reason and size.

    ``established_at`` is the subject's last such engagement's ``ts``.
    """
    cut = params.policy.invalid_risk
    accounts = confirmed_accounts(window, invalid_risk=cut)
    parts = [
        pd.DataFrame(
            {
                "subject_kind": "account",
                "subject_id": accounts["account_id"],
                "platform": _platforms(window.engagements, "user_id")
                .reindex(accounts["account_id"])
                .to_numpy(),
                "established_at": accounts["established_at"],
                "detail": "",
            }
        )
    ]
    minimum = {name: farm_minimum(params, name) for name in FARM_COLUMNS}
    for detection in window.detections:
        if detection.name in FARM_COLUMNS:
            farm = _farms(
                window.engagements, detection.event_score, detection.name, cut, minimum[detection.name]
            )
            parts.append(farm)
        elif detection.name in GROUP_DETECTORS:
            parts.append(
                _groups(window.engagements, detection, cut=cut, caught=params.spread.min_caught_score)
            )
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in CONFIRMED_COLUMNS})
    found = pd.concat(parts, ignore_index=True)
    found["established_at"] = pd.to_datetime(found["established_at"], utc=True)
    found = found.sort_values(["subject_kind", "subject_id", "established_at"], kind="stable")
    return found.drop_duplicates(["subject_kind", "subject_id"], keep="last").reset_index(drop=True)


def farm_minimum(params: ScoringParams, name: str) -> int:
    """How many accounts on one device (``device_farm``) or IP (``ip_farm``) make it a farm to remember."""
    if name == "device_farm":
        return params.detectors.device_farm.household_accounts + 1
    return params.detectors.ip_farm.min_accounts


def farm_values(
    events: pd.DataFrame, *, members: Sequence[str], posts: Sequence[str], column: str, minimum: int
) -> dict[str, int]:
    """The values of ``column`` (device_id or ip) that ``minimum`` or more of a group's ``members``
    engaged its ``posts`` from, with how many members each (a reviewed farm group's devices or IPs)."""
    if column not in events or events.empty:
        return {}
    mine = events["user_id"].astype("str").isin(set(members)) & events["post_id"].astype("str").isin(
        set(posts)
    )
    rows = events.loc[mine.to_numpy() & events[column].notna().to_numpy()]
    per = rows.assign(key=rows[column].astype("str"), user=rows["user_id"].astype("str")).groupby("key")[
        "user"
    ]
    counts = per.nunique()
    return {str(k): int(n) for k, n in counts.items() if n >= minimum}


def _platforms(engagements: pd.DataFrame, column: str) -> pd.Series:
    """Per value of ``column``: the platform of its first engagement ("" when the contract has none)."""
    if "platform" not in engagements:
        return pd.Series("", index=pd.Index(engagements[column].astype("str").unique()))
    frame = pd.DataFrame(
        {"key": engagements[column].astype("str"), "platform": engagements["platform"].astype("str")}
    )
    return frame.drop_duplicates("key").set_index("key")["platform"]


def _farms(engagements: pd.DataFrame, score: np.ndarray, name: str, cut: float, minimum: int) -> pd.DataFrame:
    """Devices or IPs on which ``minimum`` accounts or more reach the cut through the farm detector."""
    kind, column = FARM_COLUMNS[name]
    if column not in engagements:
        return pd.DataFrame()
    hit = (score >= cut) & engagements[column].notna().to_numpy()
    rows = pd.DataFrame(
        {
            "key": engagements.loc[hit, column].astype("str").to_numpy(),
            "user": engagements.loc[hit, "user_id"].astype("str").to_numpy(),
            "ts": engagements.loc[hit, "ts"].to_numpy(),
            "platform": engagements.loc[hit, "platform"].astype("str").to_numpy()
            if "platform" in engagements
            else "",
        }
    )
    per = rows.groupby("key").agg(n=("user", "nunique"), at=("ts", "max"), platform=("platform", "first"))
    per = per.loc[per["n"] >= minimum]
    return pd.DataFrame(
        {
            "subject_kind": kind,
            "subject_id": per.index.astype("str"),
            "platform": per["platform"].to_numpy(),
            "established_at": per["at"].to_numpy(),
            "detail": [f"farm of {n} accounts" for n in per["n"]],
        }
    )


def _groups(engagements: pd.DataFrame, detection: Detection, *, cut: float, caught: float) -> pd.DataFrame:
    """Member accounts of the detection's groups whose strongest engagement reaches the cut."""
    group, score = np.asarray(detection.event_group), np.asarray(detection.event_score)
    inside = group >= 0
    if not inside.any():
        return pd.DataFrame()
    strongest = pd.Series(score[inside]).groupby(group[inside]).max()
    confirmed = strongest.index[strongest.to_numpy() >= cut].to_numpy()
    member = inside & np.isin(group, confirmed) & (score >= caught)
    rows = pd.DataFrame(
        {
            "group": group[member],
            "user": engagements.loc[member, "user_id"].astype("str").to_numpy(),
            "ts": engagements.loc[member, "ts"].to_numpy(),
            "platform": engagements.loc[member, "platform"].astype("str").to_numpy()
            if "platform" in engagements
            else "",
        }
    )
    size = rows.groupby("group")["user"].nunique()
    rows = rows.sort_values("ts", kind="stable").drop_duplicates(["group", "user"], keep="last")
    name = detection.name
    return pd.DataFrame(
        {
            "subject_kind": "group",
            "subject_id": rows["user"].to_numpy(),
            "platform": rows["platform"].to_numpy(),
            "established_at": rows["ts"].to_numpy(),
            "detail": [f"{name} group of {size[g]} accounts" for g in rows["group"]],
        }
    )


__all__ = ["CONFIRMED_COLUMNS", "FARM_COLUMNS", "confirmed_subjects", "farm_minimum", "farm_values"]
