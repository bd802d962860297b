"""Verdicts a risk team would give on a simulated window: flagged accounts and a random audit of the rest.

The simulator knows the truth, so a verdict is exact; what is modelled is which
accounts get one. Reviewers see flagged accounts (those the scorer flagged) and a
random audit sample of unflagged ones, as the review queue does; each verdict carries
its ``sample`` kind and ``sampled_with_probability`` (training/labels.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.scorer import ScoredWindow
from training.labels import PROBABILITY, SAMPLE
from training.simulator import SimulatedSet


def account_truth(sim: SimulatedSet, scored: ScoredWindow) -> pd.DataFrame:
    """Per engaging account of the window: ``account_id``, ``label`` (any invalid engagement), ``flagged``."""
    truth = sim.truth_events.drop_duplicates("event_id").set_index("event_id")["invalid"]
    eng = scored.engagements
    invalid = truth.reindex(eng["event_id"]).fillna(False).to_numpy(dtype=bool)
    label = pd.Series(invalid, index=eng["user_id"].astype("str").to_numpy()).groupby(level=0).max()
    accounts = scored.accounts.loc[scored.accounts["role"] == "engager"]
    flagged = pd.Series(accounts["flagged"].to_numpy(dtype=bool), index=accounts["account_id"].astype("str"))
    return pd.DataFrame(
        {
            "account_id": label.index.to_numpy(),
            "label": label.to_numpy(dtype=np.int64),
            "flagged": flagged.reindex(label.index).fillna(False).to_numpy(dtype=bool),
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
) -> pd.DataFrame:
    """``n`` verdicts: up to ``flagged_share`` of them flagged accounts, the rest a random audit.

    Each stratum is a simple random sample, so its verdicts carry the stratum's
    sampling probability; decision times are spread uniformly over ``[start, end)``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    flagged = accounts.loc[accounts["flagged"]]
    unflagged = accounts.loc[~accounts["flagged"]]
    n_flagged = min(len(flagged), round(n * flagged_share))
    n_audit = min(len(unflagged), n - n_flagged)
    for kind, pool, k in (("flagged", flagged, n_flagged), ("audit", unflagged, n_audit)):
        if k == 0:
            continue
        chosen = pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))]
        parts.append(chosen.assign(**{SAMPLE: kind}).assign(**{PROBABILITY: k / len(pool)}))
    verdicts = pd.concat(parts, ignore_index=True) if parts else accounts.head(0)
    seconds = (end - start).total_seconds()
    offsets = pd.to_timedelta(rng.uniform(0, seconds, len(verdicts)), unit="s")
    return verdicts.drop(columns="flagged").assign(decided_at=start + offsets).reset_index(drop=True)
