"""A trained scorer's operating point: cut and review band, chosen on held-out verdicts within a money budget.

The latest verdicts of the week (by decision time) are held out of the stacker's
training. Each candidate cut is applied to the candidate's risk on the held-out
accounts' engagements, with the post holds the policy would make, and measured in
money: the share of honest payout withheld, estimated with each verdict's inverse
sampling probability, and an upper confidence bound on it that widens when the
held-out verdicts are few (a Clopper-Pearson beta bound on the Kish effective number
of honest accounts, weighted by weight x money). The chosen cut is the one that
withholds the most fraudulent money among those whose bound meets the budget; with
too few held-out honest verdicts, or no cut within budget, the cold thresholds stay.

Only the cut moves the risk scale's decisions: the review band keeps its cold width
just below the cut, weak signals keep their cold cap (so risk itself is unchanged and
the curve measured here is what the pinned scorer decides), the account flag keeps its
cold offset from the cut. The hold shares stay cold: verdicts judge accounts, holds
judge posts, and held money is paid at the review deadline by default.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import beta
from sklearn.metrics import average_precision_score

from detectors.params import PolicyParams
from detectors.policy import held_engagements
from features.arrays import is_in
from features.columns import PAID_ACTIONS
from training.labels import SAMPLE

VERDICT_COLUMNS = ("account_id", "label", "decided_at", "weight")


@dataclass(frozen=True)
class OperatingConfig:
    """How the operating point is learned (from Settings).

    ``honest_withheld_budget``: the most honest payout a learned point may withhold,
    as a share, at ``confidence`` (one-sided). ``min_holdout_honest``: fewer held-out
    honest verdicts keep the cold thresholds. ``holdout_share``: the latest share of
    the week's verdicts held out of training. ``cut_step``: spacing of the cuts tried,
    from the cold cut up to ``max_cut``. ``hold_invalid_shares``: the near-all-invalid
    hold shares tried besides the cold one (1.0 holds only posts with nothing valid).
    """

    honest_withheld_budget: float = 0.003
    confidence: float = 0.95
    min_holdout_honest: int = 200
    holdout_share: float = 0.5
    cut_step: float = 0.01
    max_cut: float = 0.99
    hold_invalid_shares: tuple[float, ...] = (0.95, 1.0)


@dataclass(frozen=True)
class OperatingPoint:
    """The policy a trained scorer decides with, whether it was learned, why, and the curve behind it."""

    policy: PolicyParams
    learned: bool
    note: str
    metrics: dict[str, float]
    curve: pd.DataFrame


def hold_out_latest(verdicts: pd.DataFrame, *, share: float) -> npt.NDArray[np.bool_]:
    """Per verdict (one per account): True for the latest ``share`` by decision time (ties: account hash)."""
    n_held = int(np.ceil(share * len(verdicts)))
    tie = verdicts["account_id"].astype("str").map(lambda a: zlib.crc32(a.encode())).to_numpy(dtype=np.int64)
    order = np.lexsort((tie, verdicts["decided_at"].to_numpy()))
    held = np.zeros(len(verdicts), dtype=bool)
    if n_held:
        held[order[-n_held:]] = True
    return held


def policy_at(cold: PolicyParams, cut: float, hold_invalid_share: float | None = None) -> PolicyParams:
    """``cold`` with its cut at ``cut`` (review band, weak cap, account flag follow) and its invalid hold."""
    cut = round(cut, 12)
    if hold_invalid_share is not None and hold_invalid_share != cold.hold_invalid_share:
        return policy_at(replace(cold, hold_invalid_share=hold_invalid_share), cut)
    if cut == cold.invalid_risk:
        return cold
    review = round(cut - (cold.invalid_risk - cold.review_risk), 12)
    return replace(
        cold,
        invalid_risk=cut,
        review_risk=review,
        weak_margin=round(review - cold.weak_cap, 12),
        account_flag_risk=round(min(cold.account_flag_risk + cut - cold.invalid_risk, 1.0), 12),
    )


def beta_upper(share: float, n_eff: float, *, confidence: float) -> float:
    """Clopper-Pearson upper bound of a share seen as ``share * n_eff`` successes in ``n_eff`` trials."""
    if n_eff <= 0 or share >= 1.0:
        return 1.0
    successes = share * n_eff
    return float(beta.ppf(confidence, successes + 1.0, n_eff - successes))


def verdict_engagements(engagements: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Engagements of accounts with a verdict, with each one's ``account_id``, ``label`` and ``weight``."""
    table = verdicts.set_index("account_id")
    account = engagements["user_id"].astype("str")
    mine = account.isin(table.index).to_numpy()
    keys = account[mine].to_numpy()
    return engagements.loc[mine].assign(
        account_id=keys,
        label=table["label"].reindex(keys).to_numpy(dtype=np.int64),
        weight=table["weight"].reindex(keys).to_numpy(dtype=np.float64),
    )


def evaluate_point(
    engagements: pd.DataFrame, verdicts: pd.DataFrame, *, policy: PolicyParams, confidence: float
) -> dict[str, float]:
    """AP, precision, recall, honest and fraud money withheld, and the honest bound, at ``policy``.

    ``engagements`` are a whole scored window (a hold needs every engagement of its
    post); ``verdicts`` one row per account (``VERDICT_COLUMNS``). Precision and
    recall count engagements, each weighted by its account's verdict weight. Besides
    the totals, the same measures per reason code (``<measure>.reason.<code>``, see
    ``by_reason``) and per sampling kind (``<measure>.sample.<kind>``, ``by_sample``).
    """
    return {
        **_Labelled.of(engagements, verdicts).metrics(policy, confidence=confidence),
        **by_reason(engagements, verdicts, policy=policy),
        **by_sample(engagements, verdicts, policy=policy),
    }


def by_reason(engagements: pd.DataFrame, verdicts: pd.DataFrame, *, policy: PolicyParams) -> dict[str, float]:
    """Per reason code of the engagements invalid at ``policy``: what it decided on the verdicts.

    ``accounts.reason.<code>``: labelled accounts with an engagement it made invalid;
    ``precision.reason.<code>``: the weighted fraud share of those engagements;
    ``honest_withheld.reason.<code>``: the share of honest money it made invalid (holds
    are a post's decision, not a reason's, and are left out).
    """
    labelled = verdict_engagements(engagements, verdicts)
    invalid = labelled["risk"].to_numpy(dtype=np.float64) >= policy.invalid_risk
    y = labelled["label"].to_numpy() == 1
    w = labelled["weight"].to_numpy(dtype=np.float64)
    money = w * np.where(is_in(labelled["action"], PAID_ACTIONS), labelled["unit_price"].to_numpy(), 0.0)
    honest_money = max(float(money[~y].sum()), 1e-12)
    reason = labelled["reason"].astype("str").to_numpy()
    out: dict[str, float] = {}
    for code in sorted(set(reason[invalid]) - {""}):
        mine = invalid & (reason == code)
        out[f"accounts.reason.{code}"] = float(labelled.loc[mine, "account_id"].nunique())
        out[f"precision.reason.{code}"] = float((w * (mine & y)).sum() / max((w * mine).sum(), 1e-12))
        out[f"honest_withheld.reason.{code}"] = float(money[mine & ~y].sum() / honest_money)
    return out


def by_sample(engagements: pd.DataFrame, verdicts: pd.DataFrame, *, policy: PolicyParams) -> dict[str, float]:
    """Per sampling kind of the verdicts (``training/labels.py``): accounts, fraud share, and flagging.

    ``accounts.sample.<kind>``, ``fraud_share.sample.<kind>`` (the kind's fraud verdicts,
    unweighted: what a reviewer's hour found), ``precision.sample.<kind>`` and
    ``recall.sample.<kind>`` of the kind's accounts' engagements at ``policy``
    (unweighted within a kind: each kind is a simple random sample of its own stratum).
    Active-learning verdicts (``uncertain``) are reported here apart from the rest.
    """
    if SAMPLE not in verdicts:
        return {}
    out: dict[str, float] = {}
    for kind, group in verdicts.groupby(verdicts[SAMPLE].replace("", "unknown")):
        labelled = verdict_engagements(engagements, group)
        invalid = labelled["risk"].to_numpy(dtype=np.float64) >= policy.invalid_risk
        y = labelled["label"].to_numpy() == 1
        out[f"accounts.sample.{kind}"] = float(len(group))
        out[f"fraud_share.sample.{kind}"] = float((group["label"] == 1).mean())
        out[f"precision.sample.{kind}"] = float((invalid & y).sum() / max(invalid.sum(), 1))
        out[f"recall.sample.{kind}"] = float((invalid & y).sum() / max(y.sum(), 1))
    return out


@dataclass(frozen=True)
class _Labelled:
    """The verdicts' engagements as arrays, computed once for every point of a curve."""

    y: npt.NDArray[np.bool_]
    weight: npt.NDArray[np.float64]
    risk: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    fraud_money: npt.NDArray[np.float64]
    honest_account: npt.NDArray[np.int64]  # per engagement: its honest account's code, -1 if fraud
    honest_weight: npt.NDArray[np.float64]  # per honest account code
    fraud_accounts: int
    average_precision: float
    posts: pd.DataFrame  # every engagement of the posts engaged with (their holds)
    row_in_posts: npt.NDArray[np.int64]  # per engagement: its row in ``posts``

    @classmethod
    def of(cls, engagements: pd.DataFrame, verdicts: pd.DataFrame) -> _Labelled:
        """The verdicts' engagements of a scored window."""
        labelled = verdict_engagements(engagements, verdicts)
        y = labelled["label"].to_numpy() == 1
        w = labelled["weight"].to_numpy(dtype=np.float64)
        risk = labelled["risk"].to_numpy(dtype=np.float64)
        paid = is_in(labelled["action"], PAID_ACTIONS)
        price = np.where(paid, labelled["unit_price"].to_numpy(dtype=np.float64), 0.0)
        codes, _ = pd.factorize(labelled["account_id"].where(~y))
        n_honest = int(codes.max()) + 1 if len(codes) else 0
        honest_weight = np.zeros(n_honest)
        honest_weight[codes[codes >= 0]] = w[codes >= 0]
        both = 0 < y.sum() < len(y)
        posts = engagements.loc[is_in(engagements["post_id"], tuple(labelled["post_id"].unique()))]
        return cls(
            y=y,
            weight=w,
            risk=risk,
            price=price,
            fraud_money=w * price * labelled["copies"].to_numpy(dtype=np.float64) * y,
            honest_account=codes.astype(np.int64),
            honest_weight=honest_weight,
            fraud_accounts=int(labelled.loc[y, "account_id"].nunique()),
            average_precision=float(average_precision_score(y, risk, sample_weight=w)) if both else math.nan,
            posts=posts,
            row_in_posts=posts.index.get_indexer(labelled.index).astype(np.int64),
        )

    def metrics(self, policy: PolicyParams, *, confidence: float) -> dict[str, float]:
        """The point's metrics at ``policy`` (module doc)."""
        y, w = self.y, self.weight
        invalid = self.risk >= policy.invalid_risk
        withheld = invalid | _held(self.posts, policy)[self.row_in_posts]
        share, n_eff = self._honest_share(self.price * withheld)
        fraud_withheld = float((self.fraud_money * withheld).sum())
        return {
            "cut": policy.invalid_risk,
            "hold_invalid_share": policy.hold_invalid_share,
            "average_precision": self.average_precision,
            "precision": float((w * (invalid & y)).sum() / max((w * invalid).sum(), 1e-12)),
            "recall": float((w * (invalid & y)).sum() / max((w * y).sum(), 1e-12)),
            "honest_withheld": share,
            "honest_withheld_upper": beta_upper(share, n_eff, confidence=confidence),
            "honest_effective_n": n_eff,
            "fraud_withheld": fraud_withheld / max(float(self.fraud_money.sum()), 1e-12),
            # net money withheld, in the verdicts' weighted units: fraud caught less honest money withheld
            "net_withheld": fraud_withheld - share * float((w * self.price * ~y).sum()),
            "honest_accounts": float(len(self.honest_weight)),
            "fraud_accounts": float(self.fraud_accounts),
        }

    def _honest_share(self, withheld: npt.NDArray[np.float64]) -> tuple[float, float]:
        """Weighted share of honest money withheld, and the Kish effective number of honest accounts.

        An account is the unit (its engagements are decided together); its weight in
        both is its verdict weight times its money, so the bound reflects how many
        accounts, and how evenly weighted, the estimate rests on.
        """
        honest = self.honest_account >= 0
        n = len(self.honest_weight)
        money = np.bincount(self.honest_account[honest], weights=self.price[honest], minlength=n)
        kept = np.bincount(self.honest_account[honest], weights=withheld[honest], minlength=n)
        u = self.honest_weight * money
        if u.sum() <= 0:
            return 0.0, 0.0
        share = float((self.honest_weight * kept).sum() / u.sum())
        return share, float(u.sum() ** 2 / (u**2).sum())


def _held(posts: pd.DataFrame, policy: PolicyParams) -> npt.NDArray[np.bool_]:
    """Per engagement of ``posts``: whether it waits for review when ``policy``'s cut is applied."""
    decided = posts.assign(invalid=posts["risk"].to_numpy() >= policy.invalid_risk)
    return held_engagements(decided, policy=policy)


def money_curve(
    engagements: pd.DataFrame, verdicts: pd.DataFrame, *, cold: PolicyParams, config: OperatingConfig
) -> pd.DataFrame:
    """One row per cut (cold cut up to ``max_cut``) and invalid hold tried: the point's metrics there."""
    labelled = _Labelled.of(engagements, verdicts)
    n_cuts = int(np.floor((config.max_cut - cold.invalid_risk) / config.cut_step + 1e-9)) + 1
    cuts = [round(cold.invalid_risk + i * config.cut_step, 12) for i in range(max(n_cuts, 1))]
    holds = dict.fromkeys((cold.hold_invalid_share, *config.hold_invalid_shares))
    rows = [
        labelled.metrics(policy_at(cold, cut, hold), confidence=config.confidence)
        for hold in holds
        for cut in cuts
    ]
    return pd.DataFrame(rows)


def choose_point(curve: pd.DataFrame, *, cold: PolicyParams, config: OperatingConfig) -> OperatingPoint:
    """The point withholding the most net money (fraud less honest) among those within budget; else cold."""
    budget, level = config.honest_withheld_budget, f"{config.confidence:.0%}"
    n_honest = int(curve["honest_accounts"].iloc[0]) if len(curve) else 0
    at_cold = _row(curve, cold)
    if n_honest < config.min_holdout_honest:
        note = f"cold thresholds kept: {n_honest} held-out honest verdicts (need {config.min_holdout_honest})"
        return OperatingPoint(cold, False, note, at_cold, curve)
    within = curve[curve["honest_withheld_upper"] <= budget]
    if within.empty:
        best = curve.iloc[int(curve["honest_withheld_upper"].to_numpy().argmin())]
        note = (
            f"cold thresholds kept: no cut meets honest withheld <= {budget:.2%} at {level} confidence "
            f"on {n_honest} held-out honest verdicts (lowest bound {best['honest_withheld_upper']:.2%} "
            f"at cut {best['cut']:.2f})"
        )
        return OperatingPoint(cold, False, note, at_cold, curve)
    distance = (within["hold_invalid_share"] - cold.hold_invalid_share).abs()
    chosen = (
        within.assign(distance=distance)
        .sort_values(["net_withheld", "cut", "distance"], ascending=[False, True, True])
        .iloc[0]
        .drop("distance")
    )
    note = (
        f"cut {chosen['cut']:.2f} learned on {n_honest} held-out honest verdicts: honest withheld "
        f"{chosen['honest_withheld']:.3%} ({level} bound {chosen['honest_withheld_upper']:.3%} "
        f"<= {budget:.2%}), fraud money withheld {chosen['fraud_withheld']:.1%}, "
        f"invalid hold {chosen['hold_invalid_share']:.2f}"
    )
    metrics = {str(k): float(v) for k, v in chosen.items()}
    policy = policy_at(cold, float(chosen["cut"]), float(chosen["hold_invalid_share"]))
    return OperatingPoint(policy, True, note, metrics, curve)


def _row(curve: pd.DataFrame, policy: PolicyParams) -> dict[str, float]:
    """The curve's row at ``policy``'s cut and invalid hold."""
    if curve.empty:
        return {}
    same_hold = curve[curve["hold_invalid_share"] == policy.hold_invalid_share]
    row = same_hold.iloc[int((same_hold["cut"] - policy.invalid_risk).abs().to_numpy().argmin())]
    return {str(k): float(v) for k, v in row.items()}


def learn_point(
    engagements: pd.DataFrame, verdicts: pd.DataFrame, *, cold: PolicyParams, config: OperatingConfig
) -> OperatingPoint:
    """The operating point of a scorer that scored its window at ``cold`` (``engagements``)."""
    if verdicts.empty:
        note = f"cold thresholds kept: no held-out verdicts (need {config.min_holdout_honest} honest)"
        return OperatingPoint(cold, False, note, {}, pd.DataFrame())
    curve = money_curve(engagements, verdicts, cold=cold, config=config)
    return choose_point(curve, cold=cold, config=config)
