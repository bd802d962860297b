"""Account look-ups: risk, flags and reasons with evidence from the latest run that scored them."""

from __future__ import annotations

import pandas as pd

from serving.db.runs import RunRepository
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService
from serving.errors import NotFound
from serving.schemas import AccountOut, AccountReason

RUNS_SEARCHED = 5


class AccountService:
    """Reads verdicts of recent detection runs and the settlements that touched an account."""

    def __init__(
        self, *, runs: RunRepository, settlements: SettlementRepository, detection: DetectionService
    ) -> None:
        self.runs = runs
        self.settlements = settlements
        self.detection = detection

    def account(self, account_id: str) -> AccountOut:
        """The account's risk and reasons in the latest run that saw it, and recent settlements."""
        for run in self.runs.recent_runs(limit=RUNS_SEARCHED):
            accounts = self.detection.accounts(run.id)
            rows = accounts.loc[accounts["account_id"].astype("str") == account_id]
            if rows.empty:
                continue
            row = rows.sort_values("risk", ascending=False).iloc[0]
            role = str(row["role"])
            verdicts = self.detection.verdicts(run.id)
            key = "creator_id" if role == "creator" else "user_id"
            own = verdicts.loc[verdicts[key].astype("str") == account_id]
            return AccountOut(
                account_id=account_id,
                role=role,
                risk=round(float(row["risk"]), 6),
                flagged=bool(row["flagged"]),
                detection_run_id=run.id,
                reasons=_reasons(own),
                recent_settlements=self.settlements.settlements_touching(
                    creator_id=account_id if role == "creator" else None,
                    post_ids=own["post_id"].astype("str").unique().tolist(),
                    limit=10,
                ),
            )
        raise NotFound(f"account {account_id!r} was not scored by the last {RUNS_SEARCHED} detection runs")


def _reasons(engagements: pd.DataFrame) -> list[AccountReason]:
    bad = engagements.loc[engagements["invalid"].astype(bool)]
    if bad.empty:
        return []
    out = []
    for reason, group in bad.groupby(bad["reason"].astype("str"), sort=False):
        evidence = group["evidence"].astype("str")
        evidence = evidence[evidence.str.len() > 0]
        out.append(
            AccountReason(
                reason=str(reason),
                engagements=len(group),
                evidence=str(evidence.iloc[0]) if len(evidence) else "",
            )
        )
    return sorted(out, key=lambda r: (-r.engagements, r.reason))
