"""Verdicts a risk team would give on a simulated window: flagged accounts, uncertain ones, a random audit.

The simulator knows the truth, so a verdict is exact; what is modelled is which
accounts get one. Reviewers see flagged accounts (those the scorer flagged), a share
of uncertain accounts (active learning: the highest risk lies within
``detectors.policy.UNCERTAIN_MARGIN`` of the cut, on either side) and a random audit sample
of the rest, as the review queue does; each verdict carries its ``sample`` kind and
``sampled_with_probability`` (training/labels.py). The three strata do not overlap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.params import PolicyParams
from detectors.policy import near_cut
from detectors.scorer import ScoredWindow
from training.labels import PROBABILITY, SAMPLE
from training.simulator import SimulatedSet


def account_truth(
    sim: SimulatedSet, scored: ScoredWindow, *, policy: PolicyParams | None = None
) -> pd.DataFrame:
    """Per engaging account: ``account_id``, ``label`` (any invalid engagement), ``flagged``, ``uncertain``.

    ``uncertain``: the account's highest risk lies within ``UNCERTAIN_MARGIN`` of ``policy``'s cut
    (``detectors.policy.near_cut``, the band the review queue's uncertain sample uses too).
    """
    truth = sim.truth_events.drop_duplicates("event_id").set_index("event_id")["invalid"]
    eng = scored.engagements
    invalid = truth.reindex(eng["event_id"]).fillna(False).to_numpy(dtype=bool)
    users = eng["user_id"].astype("str").to_numpy()
    label = pd.Series(invalid, index=users).groupby(level=0).max()
    top = pd.Series(eng["risk"].to_numpy(dtype=np.float64), index=users).groupby(level=0).max()
    cut = (policy or PolicyParams()).invalid_risk
    accounts = scored.accounts.loc[scored.accounts["role"] == "engager"]
    flagged = pd.Series(accounts["flagged"].to_numpy(dtype=bool), index=accounts["account_id"].astype("str"))
    return pd.DataFrame(
        {
            "account_id": label.index.to_numpy(),
            "label": label.to_numpy(dtype=np.int64),
            "flagged": flagged.reindex(label.index).fillna(False).to_numpy(dtype=bool),
            "uncertain": near_cut(top.reindex(label.index).to_numpy(), cut),
        }
    )


def sample_verdicts(
    accounts: pd.DataFrame,
    *,
    n: int,
    seed: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    flagged_share: float,
    uncertain_share: float = 0.0,
) -> pd.DataFrame:
    """``n`` verdicts: ``flagged_share`` flagged accounts, ``uncertain_share`` uncertain, the rest audit.

    Uncertain accounts (``account_truth``) form their own stratum, taken out of the
    other two. Each stratum is a simple random sample, so its verdicts carry the
    stratum's sampling probability; decision times are spread uniformly over ``[start, end)``.
    """
    rng = np.random.default_rng(seed)
    uncertain = accounts["uncertain"].to_numpy(dtype=bool) if "uncertain" in accounts else None
    if uncertain is None or uncertain_share <= 0:
        uncertain = np.zeros(len(accounts), dtype=bool)
    flagged = accounts["flagged"].to_numpy(dtype=bool)
    pools = {
        "flagged": accounts.loc[flagged & ~uncertain],
        "uncertain": accounts.loc[uncertain],
        "audit": accounts.loc[~flagged & ~uncertain],
    }
    n_flagged = min(len(pools["flagged"]), round(n * flagged_share))
    n_uncertain = min(len(pools["uncertain"]), round(n * uncertain_share))
    sizes = {"flagged": n_flagged, "uncertain": n_uncertain}
    sizes["audit"] = min(len(pools["audit"]), n - n_flagged - n_uncertain)
    parts = []
    for kind, pool in pools.items():
        k = sizes[kind]
        if k == 0:
            continue
        chosen = pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))]
        parts.append(chosen.assign(**{SAMPLE: kind}).assign(**{PROBABILITY: k / len(pool)}))
    verdicts = pd.concat(parts, ignore_index=True) if parts else accounts.head(0)
    seconds = (end - start).total_seconds()
    offsets = pd.to_timedelta(rng.uniform(0, seconds, len(verdicts)), unit="s")
    return (
        verdicts.drop(columns=["flagged", "uncertain"], errors="ignore")
        .assign(decided_at=start + offsets)
        .reset_index(drop=True)
    )
