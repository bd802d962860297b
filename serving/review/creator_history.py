"""A creator's other settlements and posts, as its creator case page lists them: per settlement its
campaign, period and money for this creator, per post its money, each with a link to its case."""

from __future__ import annotations

from typing import Any

from serving.db.cases import CaseRepository
from serving.db.settlements import SettlementRepository
from serving.review.subjects import creator_case_post_id, settlement_lines

HISTORY_SETTLEMENTS = 10  # the creator's latest settlements a creator case lists


def creator_history(
    creator_id: str,
    *,
    this_settlement: str,
    settlements: SettlementRepository,
    stored: CaseRepository,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The creator's other settlements (latest first) and their posts, with money and case links."""
    ids = settlements.settlements_touching(creator_id=creator_id, post_ids=[], limit=HISTORY_SETTLEMENTS + 1)
    ids = [s for s in ids if s != this_settlement][:HISTORY_SETTLEMENTS]
    rows: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    for settlement_id in ids:
        settlement = settlements.settlement(settlement_id)
        if settlement is None:
            continue
        lines = settlement_lines(settlement.body)
        mine = lines.loc[lines["creator_id"] == creator_id].sort_values("post_id")
        cases = {
            str(p): (str(i), str(st))
            for i, _, p, st in stored.linked(
                [settlement_id], [creator_case_post_id(creator_id), *mine["post_id"].astype("str")]
            )
        }
        creator_case = cases.get(creator_case_post_id(creator_id), ("", ""))
        rows.append(
            {
                "settlement_id": settlement_id,
                "campaign_id": settlement.campaign_id,
                "period": f"{settlement.period_start:%Y-%m-%d} to {settlement.period_end:%Y-%m-%d}",
                "posts": len(mine),
                "claimed": round(float(mine["claimed_amount"].sum()), 2),
                "paid": round(float(mine["payable"].sum()), 2),
                "withheld": round(float(mine["withheld_amount"].sum()), 2),
                "held": round(float(mine["held_amount"].sum()), 2),
                "case_id": creator_case[0],
                "case_status": creator_case[1],
            }
        )
        for line in mine.to_dict("records"):
            post_case = cases.get(str(line["post_id"]), ("", ""))
            posts.append(
                {
                    "post_id": str(line["post_id"]),
                    "settlement_id": settlement_id,
                    "campaign_id": settlement.campaign_id,
                    "decision": str(line["decision"]),
                    "claimed": float(line["claimed_amount"]),
                    "paid": float(line["payable"]),
                    "withheld": float(line["withheld_amount"]),
                    "held": float(line["held_amount"]),
                    "case_id": post_case[0],
                }
            )
    return rows, posts
