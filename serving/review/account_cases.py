"""Flagged-account cases: the engaging accounts of a settlement a reviewer judges, and their money.

An account is flagged when its detection run says so (``flagged`` of the run's accounts, what
``GET /v1/accounts/{id}`` reports). Its money at stake in a settlement is what the settlement
withheld or held for its engagements on the settlement's posts: every invalid engagement
(withheld) and every engagement on a held post (held, replays withheld). Clearing it releases
the held part only: its valid engagements on held posts, post by post.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from detectors.policy import near_cut, unit_prices
from serving.db.campaigns import CampaignRepository
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, campaigns_frame, to_decimal

ACCOUNT_POST_PREFIX = "account:"
LINE_COLUMNS = ("account_id", "post_id", "engagements", "at_stake", "releasable")


def case_post_id(account_id: str) -> str:
    """The ``post_id`` an account case is stored under (unique beside the settlement's real posts)."""
    return f"{ACCOUNT_POST_PREFIX}{account_id}"


@dataclass(frozen=True)
class SettlementVerdicts:
    """A settlement's engagements as its detection run judged them, priced, with its held posts."""

    engagements: pd.DataFrame  # the run's verdicts of the settlement's posts
    price: np.ndarray  # unit price of each engagement
    held_posts: frozenset[str]
    accounts: pd.DataFrame  # the run's scored accounts (account_id, role, risk, flagged, reasons)
    invalid_risk: float  # the run's invalid cut (its PolicyParams.invalid_risk)


def settlement_verdicts(
    settlement_id: str,
    *,
    settlements: SettlementRepository,
    campaigns: CampaignRepository,
    detection: DetectionService,
) -> SettlementVerdicts | None:
    """The verdicts of a settlement's posts (None when the settlement had no detection run).

    Priced with the run's own thresholds: what the settlement held the money under.
    """
    settlement = settlements.settlement(settlement_id)
    if settlement is None or settlement.run_id is None:
        return None
    lines = settlements.post_holds(settlement_id)
    verdicts = detection.verdicts(settlement.run_id)
    mine = verdicts.loc[
        (verdicts["campaign_id"].astype("str") == settlement.campaign_id)
        & verdicts["post_id"].astype("str").isin([str(p) for p, _ in lines])
    ].reset_index(drop=True)
    campaign = campaigns.campaign(settlement.campaign_id)
    prices = campaigns_frame([campaign] if campaign is not None else [])
    policy = detection.params(settlement.run_id).policy
    return SettlementVerdicts(
        engagements=mine,
        price=unit_prices(mine, prices, default_unit_price=policy.default_unit_price),
        held_posts=frozenset(str(p) for p, held in lines if held > 0),
        accounts=detection.accounts(settlement.run_id),
        invalid_risk=policy.invalid_risk,
    )


def flagged_engagers(accounts: pd.DataFrame) -> pd.DataFrame:
    """The run's flagged engaging accounts (account_id, risk, reasons), riskiest first."""
    flagged = accounts.loc[(accounts["role"].astype("str") == "engager") & accounts["flagged"].astype(bool)]
    out = flagged.assign(account_id=flagged["account_id"].astype("str"))[["account_id", "risk", "reasons"]]
    return out.sort_values(["risk", "account_id"], ascending=[False, True], ignore_index=True)


def account_lines(verdicts: SettlementVerdicts, account_ids: set[str] | None = None) -> pd.DataFrame:
    """Per flagged account (of ``account_ids``, or all) and post: engagements, money at stake, releasable."""
    flagged = set(flagged_engagers(verdicts.accounts)["account_id"])
    if account_ids is not None:
        flagged &= account_ids
    frame = verdicts.engagements
    owner = frame["user_id"].astype("str").to_numpy()
    keep = np.isin(owner, sorted(flagged))
    if not keep.any():
        return pd.DataFrame({c: [] for c in LINE_COLUMNS})
    post = frame["post_id"].astype("str").to_numpy()[keep]
    invalid = frame["invalid"].to_numpy(dtype=bool)[keep]
    price = verdicts.price[keep]
    copies = frame["copies"].to_numpy(dtype=np.float64)[keep]
    on_hold = np.isin(post, sorted(verdicts.held_posts))
    lines = pd.DataFrame(
        {
            "account_id": owner[keep],
            "post_id": post,
            "engagements": 1,
            "at_stake": np.where(invalid | on_hold, price * copies, 0.0),
            "releasable": np.where(on_hold & ~invalid, price, 0.0),
        }
    )
    return lines.groupby(["account_id", "post_id"], sort=True).sum().reset_index()


def account_stakes(verdicts: SettlementVerdicts) -> pd.DataFrame:
    """One row per flagged account with money at stake: at_stake, releasable, main_post, reasons, risk
    (the run's risk of the account)."""
    lines = account_lines(verdicts)
    if lines.empty:
        return pd.DataFrame(
            {"account_id": [], "at_stake": [], "releasable": [], "main_post": [], "reasons": [], "risk": []}
        )
    main = lines.sort_values(["engagements", "post_id"], ascending=[False, True]).drop_duplicates(
        "account_id"
    )
    per_account = lines.groupby("account_id")[["at_stake", "releasable"]].sum()
    per_account["main_post"] = main.set_index("account_id")["post_id"]
    flagged = flagged_engagers(verdicts.accounts).set_index("account_id")
    per_account["reasons"] = flagged["reasons"].reindex(per_account.index).fillna("").astype("str")
    per_account["risk"] = flagged["risk"].reindex(per_account.index).astype("float64")
    per_account = per_account.loc[per_account["at_stake"].round(2) > 0]
    return per_account.reset_index()


def uncertain_unflagged(verdicts: SettlementVerdicts) -> pd.DataFrame:
    """The settlement's engaging accounts the run did not flag whose risk lies near its cut
    (``detectors.policy.near_cut``): account_id, risk, and at_stake 0 and reasons "" (nothing of
    theirs is withheld, so they have no case unless the uncertain sample draws one)."""
    accounts = verdicts.accounts
    engagers = accounts.loc[(accounts["role"].astype("str") == "engager") & ~accounts["flagged"].astype(bool)]
    ids = engagers["account_id"].astype("str")
    risk = engagers["risk"].to_numpy(dtype=np.float64)
    engaging = set(verdicts.engagements["user_id"].astype("str"))
    keep = ids.isin(engaging).to_numpy() & near_cut(risk, verdicts.invalid_risk)
    out = pd.DataFrame(
        {"account_id": ids.to_numpy()[keep], "risk": risk[keep], "at_stake": 0.0, "reasons": ""}
    )
    return out.sort_values("account_id", ignore_index=True)


def releases(verdicts: SettlementVerdicts, account_id: str) -> list[tuple[str, Decimal]]:
    """The held money of one account's valid engagements, per held post (in cents, none at zero)."""
    lines = account_lines(verdicts, {account_id})
    out = [(str(p), to_decimal(v)) for p, v in zip(lines["post_id"], lines["releasable"], strict=True)]
    return [(p, v) for p, v in out if v > 0]


@dataclass(frozen=True)
class AccountPlan:
    """What deciding an account case touches: its main post (for labels) and the held money per post."""

    main_post: str
    releases: list[tuple[str, Decimal]]


def account_plan(
    case_id: str,
    settlement_id: str,
    account_id: str,
    *,
    settlements: SettlementRepository,
    campaigns: CampaignRepository,
    detection: DetectionService,
) -> AccountPlan:
    """The account's releasable money per held post, capped by what is still held on each post.

    Releases already made under this case's own keys do not count against the cap, so a retried
    decision computes the same amounts (and replays the same adjustments).
    """
    verdicts = settlement_verdicts(
        settlement_id, settlements=settlements, campaigns=campaigns, detection=detection
    )
    if verdicts is None:
        return AccountPlan(main_post="", releases=[])
    main_post = _main_post(verdicts, account_lines(verdicts, {account_id}), account_id)
    wanted = releases(verdicts, account_id)
    if not wanted:
        return AccountPlan(main_post=main_post, releases=[])
    own_prefix = f"review:{case_id}:"
    held, others = settlements.holds_and_releases(settlement_id, [p for p, _ in wanted])
    released: dict[str, Decimal] = {}
    for post_id, amount, key in others:
        if not (key or "").startswith(own_prefix):
            released[post_id] = released.get(post_id, Decimal("0.00")) + Decimal(str(amount))
    capped = [(p, min(v, Decimal(str(held.get(p, 0))) - released.get(p, Decimal("0.00")))) for p, v in wanted]
    return AccountPlan(
        main_post=main_post,
        releases=[(p, v.quantize(Decimal("0.01"))) for p, v in capped if v > 0],
    )


def _main_post(verdicts: SettlementVerdicts, lines: pd.DataFrame, account_id: str) -> str:
    """The post an account case's label names: its flagged post with most engagements, or for an
    account the run did not flag, the settlement's post it engaged most ('' if none)."""
    if lines.empty:
        frame = verdicts.engagements
        posts = frame.loc[frame["user_id"].astype("str") == account_id, "post_id"].astype("str")
        lines = posts.value_counts().rename("engagements").rename_axis("post_id").reset_index()
    main = lines.sort_values(["engagements", "post_id"], ascending=[False, True])["post_id"]
    return str(main.iloc[0]) if len(main) else ""
