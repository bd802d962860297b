"""The evidence pack of a case: what was withheld or held, why, with the numbers, as CSV and PDF.

Made for a brand to send a creator who disputes: the creator's own ids stay readable; every other
person's id (the engaging accounts) is a hash salted with the settlement id, so two packs cannot be
joined on them. Devices and IPs are left out. The PDF is drawn server-side with matplotlib.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from dataclasses import dataclass

import pandas as pd

from serving.review.account_cases import settlement_verdicts
from serving.review.decisions import DecisionService
from serving.review.evidence import reason_evidence
from serving.review.rows import CaseRow
from serving.review.subjects import CREATOR_PREFIX, creator_posts, settlement_lines
from serving.review.view import currency_of
from serving.statuses import CaseKind

EVENT_COLUMNS = ("event_id", "ts", "post_id", "account", "action", "risk", "invalid", "reason")
POST_COLUMNS = ("post_id", "creator_id", "decision", "claimed", "valid", "claimed_amount", "payable")
MONEY_COLUMNS = ("withheld_amount", "held_amount")
_LINES_PER_PAGE = 52


@dataclass(frozen=True)
class Pack:
    """What a pack says: a title, summary lines, the posts' money, the reasons, and every event."""

    title: str
    summary: list[str]
    posts: pd.DataFrame
    reasons: pd.DataFrame
    events: pd.DataFrame


def hashed(settlement_id: str, account_id: str) -> str:
    """Another person's id as the pack shows it: 12 hex digits of a hash salted by the settlement."""
    return hashlib.sha256(f"{settlement_id}\x1f{account_id}".encode()).hexdigest()[:12]


def case_pack(case: CaseRow, *, decisions: DecisionService) -> Pack:
    """The pack of a case: its posts (the creator's, the group's, the account's, or the one post)."""
    settlement = decisions.settlements.settlement(case.settlement_id)
    body = settlement.body if settlement is not None else ""
    lines = settlement_lines(body)
    verdicts = settlement_verdicts(
        case.settlement_id,
        settlements=decisions.settlements,
        campaigns=decisions.campaigns,
        detection=decisions.detection,
    )
    mine = verdicts.engagements if verdicts is not None else pd.DataFrame(columns=list(EVENT_COLUMNS))
    if case.kind == CaseKind.POST:
        mine = mine.loc[mine["post_id"].astype("str") == case.post_id]
    elif case.kind == CaseKind.CREATOR:
        own = creator_posts(lines, case.post_id.removeprefix(CREATOR_PREFIX))["post_id"]
        mine = mine.loc[mine["post_id"].astype("str").isin(list(own))]
    elif case.kind == CaseKind.GROUP:
        group = decisions.group_of(case)
        mine = mine.loc[
            mine["user_id"].astype("str").isin(list(group.members))
            & mine["post_id"].astype("str").isin(list(group.posts))
        ]
    else:
        mine = mine.loc[mine["user_id"].astype("str") == str(case.account_id)]
    post_ids = sorted(set(mine["post_id"].astype("str"))) if not mine.empty else [case.post_id]
    posts = lines.loc[lines["post_id"].isin(post_ids), [*POST_COLUMNS, *MONEY_COLUMNS, "reasons"]]
    events = _events(mine, case.settlement_id)
    currency = currency_of(body)
    withheld, held = posts["withheld_amount"].sum(), posts["held_amount"].sum()
    summary = [
        f"Settlement {case.settlement_id}, campaign {case.campaign_id} ({case.platform}).",
        f"Withheld {withheld:.2f} {currency} for invalid engagements and held {held:.2f} {currency} "
        f"for review on {len(posts)} post(s); paid {posts['payable'].sum():.2f} {currency}.",
        f"{len(events)} engagements in this pack, {int(events['invalid'].astype(bool).sum())} invalid.",
        "Accounts appear as hashed ids (salted by the settlement); devices and IPs are left out.",
    ]
    decision = decisions.stored_cases.decision_of(case.case_id)
    if decision is not None:
        summary.append(f"Decision: {decision.action}, released {decision.released} {currency}.")
    return Pack(
        title=f"Evidence pack: {case.kind} case {case.case_id}",
        summary=summary,
        posts=posts.reset_index(drop=True),
        reasons=reason_evidence(mine) if not mine.empty else pd.DataFrame(),
        events=events,
    )


def _events(verdicts: pd.DataFrame, settlement_id: str) -> pd.DataFrame:
    if verdicts.empty:
        return pd.DataFrame({c: [] for c in EVENT_COLUMNS})
    out = pd.DataFrame(
        {
            "event_id": verdicts["event_id"].astype("str"),
            "ts": pd.to_datetime(verdicts["ts"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "post_id": verdicts["post_id"].astype("str"),
            "account": [hashed(settlement_id, str(a)) for a in verdicts["user_id"]],
            "action": verdicts["action"].astype("str"),
            "risk": verdicts["risk"].astype("float64").round(3),
            "invalid": verdicts["invalid"].astype(bool),
            "reason": verdicts["reason"].astype("str"),
        }
    )
    return out.sort_values(["ts", "event_id"], ignore_index=True)


def pack_csv(pack: Pack) -> bytes:
    """Every event of the pack as CSV (accounts hashed)."""
    return pack.events.to_csv(index=False).encode()


def pack_pdf(pack: Pack) -> bytes:
    """The pack as a PDF: the summary, the posts' money, the reasons, then the events, page by page."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    text = [pack.title, "", *pack.summary, "", "Posts (money per post):"]
    text += _table_lines(pack.posts)
    text += ["", "Why (per reason, this post set only):"]
    text += [f"- {r['evidence']}" for r in pack.reasons.to_dict("records")] or ["- no invalid engagements"]
    text += ["", "Events:", *_table_lines(pack.events)]
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": pack.title, "Creator": "cpeguard"}) as pdf:
        for start in range(0, len(text), _LINES_PER_PAGE):
            figure = Figure(figsize=(8.27, 11.69))  # A4
            chunk = text[start : start + _LINES_PER_PAGE]
            figure.text(0.05, 0.97, "\n".join(chunk), va="top", ha="left", family="monospace", fontsize=7)
            pdf.savefig(figure)
    return buffer.getvalue()


def _table_lines(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return ["(none)"]
    rendered = frame.to_string(index=False, max_colwidth=28)
    return [textwrap.shorten(line, width=150, placeholder="...") for line in rendered.splitlines()]
