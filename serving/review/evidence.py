"""The evidence of a case, as pure functions of a run's verdicts and the stored events (frames in, out)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_GRAPH_ACCOUNTS = 30
MAX_GRAPH_POSTS = 12
MAX_TIMELINE_BINS = 48


@dataclass(frozen=True)
class Graph:
    """A small bipartite graph of accounts and posts (node frames and an edge frame)."""

    accounts: pd.DataFrame  # account_id, risk, is_invalid, reason
    posts: pd.DataFrame  # post_id, n_accounts, is_case
    edges: pd.DataFrame  # account_id, post_id


def post_verdicts(verdicts: pd.DataFrame, post_id: str) -> pd.DataFrame:
    """The verdicts of one post's engagements, oldest first."""
    mine = verdicts.loc[verdicts["post_id"].astype("str") == post_id].copy()
    mine["ts"] = pd.to_datetime(mine["ts"], utc=True)
    return mine.sort_values("ts", kind="stable", ignore_index=True)


def flagged_accounts(engagements: pd.DataFrame, *, review_risk: float) -> pd.DataFrame:
    """Accounts of a post the detector doubted: any invalid engagement or risk in the review band.

    Columns: account_id, risk (max), is_invalid (any invalid engagement).
    """
    frame = engagements.assign(
        account_id=engagements["user_id"].astype("str"),
        is_invalid=engagements["invalid"].astype(bool),
        risk=engagements["risk"].astype("float64"),
    )
    per_account = frame.groupby("account_id", sort=True).agg(
        risk=("risk", "max"), is_invalid=("is_invalid", "any")
    )
    doubted = per_account.loc[per_account["is_invalid"] | (per_account["risk"] >= review_risk)]
    return doubted.reset_index()


def clean_share(engagements: pd.DataFrame, price: np.ndarray, *, review_risk: float) -> float:
    """Value of the paid engagements neither invalid nor in the review band: what a default pays."""
    is_clean = (~engagements["invalid"].astype(bool).to_numpy()) & (
        engagements["risk"].astype("float64").to_numpy() < review_risk
    )
    return float(np.round(np.sum(np.where(is_clean, price, 0.0)), 6))


def timeline(engagements: pd.DataFrame, campaign_verdicts: pd.DataFrame) -> pd.DataFrame:
    """Engagements per time bin since the post's first one, flagged ones, and the organic baseline.

    The baseline is the average shape of the campaign's posts without any invalid engagement
    (hours since their own first engagement), scaled to this post's total.
    Columns: start_h, engagements, flagged, baseline.
    """
    if engagements.empty:
        return pd.DataFrame({"start_h": [], "engagements": [], "flagged": [], "baseline": []})
    ts = engagements["ts"]
    hours = (ts - ts.min()).dt.total_seconds().to_numpy() / 3600.0
    span_h = max(float(hours.max()), 1.0)
    bin_h = max(1, math.ceil(span_h / MAX_TIMELINE_BINS))
    n_bins = int(span_h // bin_h) + 1
    index = np.minimum((hours // bin_h).astype(np.int64), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    is_flagged = engagements["invalid"].astype(bool).to_numpy()
    flagged = np.bincount(index[is_flagged], minlength=n_bins).astype(np.float64)
    shape = _organic_shape(campaign_verdicts, bin_h=bin_h, n_bins=n_bins)
    return pd.DataFrame(
        {
            "start_h": np.arange(n_bins) * bin_h,
            "engagements": counts,
            "flagged": flagged,
            "baseline": shape * counts.sum(),
        }
    )


def _organic_shape(campaign_verdicts: pd.DataFrame, *, bin_h: int, n_bins: int) -> np.ndarray:
    if campaign_verdicts.empty:
        return np.zeros(n_bins)
    frame = campaign_verdicts.assign(
        ts=pd.to_datetime(campaign_verdicts["ts"], utc=True),
        post_id=campaign_verdicts["post_id"].astype("str"),
        invalid=campaign_verdicts["invalid"].astype(bool),
    )
    has_invalid = frame.groupby("post_id")["invalid"].any()
    clean_posts = has_invalid.index[~has_invalid.to_numpy()]
    clean = frame.loc[frame["post_id"].isin(clean_posts)]
    if clean.empty:
        return np.zeros(n_bins)
    first = clean.groupby("post_id")["ts"].transform("min")
    hours = (clean["ts"] - first).dt.total_seconds().to_numpy() / 3600.0
    index = (hours // bin_h).astype(np.int64)
    keep = index < n_bins
    per_post = pd.DataFrame({"post_id": clean["post_id"].to_numpy()[keep], "bin": index[keep]})
    table = per_post.groupby(["post_id", "bin"]).size().unstack(fill_value=0)
    counts = table.reindex(columns=range(n_bins), fill_value=0).to_numpy(dtype=np.float64)
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    return (counts / totals).mean(axis=0)


def group_graph(verdicts: pd.DataFrame, post_id: str, *, review_risk: float) -> Graph:
    """The doubted accounts of a post and the other posts they engage (the lockstep group or block)."""
    mine = verdicts.loc[verdicts["post_id"].astype("str") == post_id]
    doubted = flagged_accounts(mine, review_risk=review_risk)
    doubted = doubted.sort_values(["is_invalid", "risk"], ascending=False).head(MAX_GRAPH_ACCOUNTS)
    reason = (
        mine.loc[mine["invalid"].astype(bool)]
        .assign(account_id=lambda f: f["user_id"].astype("str"))
        .groupby("account_id")["reason"]
        .agg(lambda r: str(r.astype("str").mode().iloc[0]) if len(r) else "")
    )
    doubted["reason"] = doubted["account_id"].map(reason).fillna("review band")
    theirs = verdicts.loc[verdicts["user_id"].astype("str").isin(doubted["account_id"])]
    edges = (
        pd.DataFrame(
            {"account_id": theirs["user_id"].astype("str"), "post_id": theirs["post_id"].astype("str")}
        )
        .drop_duplicates()
        .reset_index(drop=True)
    )
    per_post = edges.groupby("post_id")["account_id"].nunique().sort_values(ascending=False, kind="stable")
    others = [p for p in per_post.index if p != post_id and per_post[p] >= 2][: MAX_GRAPH_POSTS - 1]
    kept = [post_id, *others] if post_id in per_post.index else others
    edges = edges.loc[edges["post_id"].isin(kept)].reset_index(drop=True)
    posts = pd.DataFrame(
        {
            "post_id": kept,
            "n_accounts": [int(per_post.get(p, 0)) for p in kept],
            "is_case": [p == post_id for p in kept],
        }
    )
    return Graph(accounts=doubted.reset_index(drop=True), posts=posts, edges=edges)


def shared_infrastructure(
    post_events: pd.DataFrame, period_events: pd.DataFrame, column: str
) -> pd.DataFrame:
    """Devices or IPs (``column``) behind two or more of the post's accounts, with their reach.

    Columns: value, post_accounts (on this post), period_accounts (in the campaign's period).
    """
    empty = pd.DataFrame({"value": [], "post_accounts": [], "period_accounts": []})
    if post_events.empty or column not in post_events.columns:
        return empty
    here = post_events.dropna(subset=[column])
    per_value = here.groupby(here[column].astype("str"))["user_id"].nunique()
    shared = per_value.loc[per_value >= 2].sort_values(ascending=False, kind="stable").head(10)
    if shared.empty:
        return empty
    there = period_events.dropna(subset=[column])
    reach = (
        there.loc[there[column].astype("str").isin(shared.index)]
        .groupby(there[column].astype("str"))["user_id"]
        .nunique()
    )
    return pd.DataFrame(
        {
            "value": shared.index.astype("str"),
            "post_accounts": shared.to_numpy(),
            "period_accounts": reach.reindex(shared.index).fillna(0).astype(int).to_numpy(),
        }
    )


AGE_BUCKETS = (
    (0, 7, "under 7 days"),
    (7, 30, "7-30 days"),
    (30, 365, "30-365 days"),
    (365, 10**6, "over a year"),
)


def account_ages(post_events: pd.DataFrame, doubted: set[str]) -> pd.DataFrame:
    """Accounts of the post by age at their first engagement, doubted ones apart.

    Columns: bucket, doubted, others.
    """
    rows = {label: [0, 0] for *_, label in AGE_BUCKETS}
    rows["unknown"] = [0, 0]
    if not post_events.empty and "user_created_at" in post_events.columns:
        first = post_events.groupby(post_events["user_id"].astype("str")).agg(
            ts=("ts", "min"), created=("user_created_at", "min")
        )
        age_days = (
            pd.to_datetime(first["ts"], utc=True) - pd.to_datetime(first["created"], utc=True)
        ).dt.total_seconds() / 86400.0
        for account_id, age in age_days.items():
            rows[_age_bucket(age)][0 if account_id in doubted else 1] += 1
    return pd.DataFrame(
        {
            "bucket": list(rows),
            "doubted": [v[0] for v in rows.values()],
            "others": [v[1] for v in rows.values()],
        }
    )


def _age_bucket(age_days: float) -> str:
    if pd.isna(age_days):
        return "unknown"
    age = max(float(age_days), 0.0)
    return next((label for lo, hi, label in AGE_BUCKETS if lo <= age < hi), AGE_BUCKETS[-1][2])


def reason_evidence(engagements: pd.DataFrame) -> pd.DataFrame:
    """Per reason code of the post's invalid engagements: engagements, accounts, and a sentence about
    this post only (the detector's own sentence describes its whole group, on every post it touched)."""
    bad = engagements.loc[engagements["invalid"].astype(bool)]
    if bad.empty:
        return pd.DataFrame({"reason": [], "engagements": [], "accounts": [], "evidence": []})
    total = len(engagements)
    rows = []
    for reason, group in bad.groupby(bad["reason"].astype("str"), sort=False):
        n, accounts = len(group), int(group["user_id"].nunique())
        rows.append(
            {
                "reason": reason,
                "engagements": n,
                "accounts": accounts,
                "evidence": f"{reason}: {n} of this post's {total} engagements, from {accounts} "
                f"account{'' if accounts == 1 else 's'}, are invalid for this reason",
            }
        )
    return pd.DataFrame(rows).sort_values(
        ["engagements", "reason"], ascending=[False, True], ignore_index=True
    )


def sample_events(engagements: pd.DataFrame, post_events: pd.DataFrame, *, n: int = 12) -> pd.DataFrame:
    """A few of the post's events, flagged ones first, with device, IP and account creation."""
    columns = ["event_id", "ts", "user_id", "action", "risk", "reason"]
    sample = engagements.sort_values(["invalid", "risk"], ascending=False, kind="stable").head(n)[columns]
    extra = [c for c in ("event_id", "device_id", "ip", "user_created_at") if c in post_events.columns]
    if len(extra) > 1:
        sample = sample.merge(post_events[extra].drop_duplicates("event_id"), on="event_id", how="left")
    return sample.reset_index(drop=True)


def account_infrastructure(
    account_events: pd.DataFrame, period_events: pd.DataFrame, column: str
) -> pd.DataFrame:
    """Devices or IPs (``column``) an account used and how many accounts of the period share each.

    Columns: value, account_events (the account's events on it), period_accounts; shared first.
    """
    empty = pd.DataFrame({"value": [], "account_events": [], "period_accounts": []})
    if account_events.empty or column not in account_events.columns:
        return empty
    used = account_events[column].dropna().astype("str").value_counts()
    if used.empty:
        return empty
    there = period_events.dropna(subset=[column])
    values = there[column].astype("str")
    reach = there.loc[values.isin(used.index)].groupby(values)["user_id"].nunique()
    out = pd.DataFrame(
        {
            "value": used.index.astype("str"),
            "account_events": used.to_numpy(),
            "period_accounts": reach.reindex(used.index).fillna(1).astype(int).to_numpy(),
        }
    )
    return out.sort_values(
        ["period_accounts", "account_events", "value"], ascending=[False, False, True], ignore_index=True
    ).head(10)


def account_age(account_events: pd.DataFrame) -> dict[str, str]:
    """The account's creation, first engagement in the period, and age then (with its age bucket)."""
    if account_events.empty or "user_created_at" not in account_events.columns:
        return {"created": "", "first_engagement": "", "age_days": "", "bucket": "unknown"}
    created = pd.to_datetime(account_events["user_created_at"], utc=True).min()
    first = pd.to_datetime(account_events["ts"], utc=True).min()
    age = (first - created).total_seconds() / 86400.0 if not pd.isna(created) else float("nan")
    return {
        "created": "" if pd.isna(created) else created.strftime("%Y-%m-%d %H:%M UTC"),
        "first_engagement": first.strftime("%Y-%m-%d %H:%M UTC"),
        "age_days": "" if pd.isna(age) else f"{age:.1f}",
        "bucket": _age_bucket(age),
    }
