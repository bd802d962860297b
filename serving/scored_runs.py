"""A detection run's scored window: what is kept in memory and written, and the run's summary."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from detectors.scorer import ScoredWindow
from features.columns import TS_DTYPE
from serving.io import (
    ACCOUNT_COLUMNS,
    ENGAGEMENT_COLUMNS,
    ENGAGEMENT_EXTRA,
    POST_COLUMNS,
    POST_EXTRA,
    accounts_output,
    engagements_output,
    posts_output,
)
from serving.scorers import VersionedScorer

# what a run's verdicts hold beyond the contract's engagements columns: settling hashes events by time
RUN_ENGAGEMENT_EXTRA = ("ts",)


@dataclass(frozen=True)
class ScoredRun:
    """A finished run's scored window, held in memory for the requests that follow it.

    ``verdicts`` are the engagements exactly as written to the run's
    ``engagements.parquet`` (id columns as plain strings), in scoring order;
    ``campaigns`` is the price table the run scored with.
    """

    run_id: str
    scorer: VersionedScorer
    verdicts: pd.DataFrame
    posts: pd.DataFrame
    accounts: pd.DataFrame
    campaigns: pd.DataFrame
    # accounts, farm devices and IPs, and group members confirmed on structural evidence alone, and
    # when (``detectors.memory.confirmed_subjects``)
    confirmed: pd.DataFrame | None = None


class KeptRuns:
    """The last ``n_kept`` runs' scored windows held in memory, and as many runs' verdicts read back
    from their folders (``runs_dir/<run id>``) after a restart."""

    def __init__(self, *, runs_dir: Path, n_kept: int) -> None:
        self.runs_dir = runs_dir
        self.n_kept = n_kept
        self._scored: OrderedDict[str, ScoredRun] = OrderedDict()
        self._cache: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def scored(self, run_id: str) -> ScoredRun | None:
        """The run's scored window if this process scored it recently (None after a restart)."""
        with self._lock:
            return self._scored.get(run_id)

    def verdicts(self, run_id: str) -> pd.DataFrame:
        """The per-event verdicts of a finished run: in memory, or read once from its folder."""
        with self._lock:
            if run_id in self._scored:
                return self._scored[run_id].verdicts
            if run_id in self._cache:
                self._cache.move_to_end(run_id)
                return self._cache[run_id]
        frame = pd.read_parquet(self.runs_dir / run_id / "engagements.parquet")
        with self._lock:
            self._cache[run_id] = frame
            while len(self._cache) > self.n_kept:
                self._cache.popitem(last=False)
        return frame

    def accounts(self, run_id: str) -> pd.DataFrame:
        """The accounts a finished run scored."""
        kept = self.scored(run_id)
        if kept is not None:
            return kept.accounts
        return pd.read_parquet(self.runs_dir / run_id / "accounts.parquet")

    def keep(self, scored: ScoredRun) -> None:
        """Hold a finished run's scored window (the oldest dropped past ``n_kept``)."""
        with self._lock:
            self._scored[scored.run_id] = scored
            while len(self._scored) > self.n_kept:
                self._scored.popitem(last=False)

    def forget(self, run_ids: list[str]) -> None:
        """Drop failed runs from memory."""
        with self._lock:
            for run_id in run_ids:
                self._cache.pop(run_id, None)
                self._scored.pop(run_id, None)


# the outputs' columns that are not text, with their kinds (an empty window still passes the checks)
_OUTPUT_KINDS: dict[str, str | pd.DatetimeTZDtype] = {
    **dict.fromkeys(
        ("risk", "unit_price", "payable", "claimed_amount", "held_amount", "withheld_amount"), "float64"
    ),
    **dict.fromkeys(("copies", "claimed", "valid"), "int64"),
    **dict.fromkeys(("invalid", "held", "flagged"), "bool"),
    "ts": TS_DTYPE,
}


def empty_window() -> ScoredWindow:
    """What a run over a period without events decided: nothing, in the outputs' columns and kinds."""

    def empty(columns: tuple[str, ...]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=_OUTPUT_KINDS.get(c, "str")) for c in columns})

    return ScoredWindow(
        engagements=empty((*ENGAGEMENT_COLUMNS, *ENGAGEMENT_EXTRA, *RUN_ENGAGEMENT_EXTRA)),
        posts=empty((*POST_COLUMNS, *POST_EXTRA)),
        accounts=empty(ACCOUNT_COLUMNS),
        detections=(),
    )


def scored_run(
    run_id: str, scorer: VersionedScorer, window: ScoredWindow, campaigns: pd.DataFrame
) -> ScoredRun:
    """The run's window as written, id columns decoded to plain strings as Parquet holds them."""
    verdicts = engagements_output(window.engagements, extra=RUN_ENGAGEMENT_EXTRA)
    for column in verdicts.columns:
        if isinstance(verdicts[column].dtype, pd.CategoricalDtype):
            verdicts[column] = verdicts[column].astype("str")
    return ScoredRun(
        run_id=run_id,
        scorer=scorer,
        verdicts=verdicts,
        posts=posts_output(window.posts),
        accounts=accounts_output(window.accounts),
        campaigns=campaigns,
    )


def run_summary(scored: ScoredRun, *, n_events: int, window: ScoredWindow) -> dict[str, int | float | str]:
    """The run's counts: events, engagements, invalid ones, posts by decision, flagged accounts."""
    decisions = scored.posts["decision"].value_counts()
    summary: dict[str, int | float | str] = {
        "n_events": n_events,
        "n_engagements": len(scored.verdicts),
        "n_invalid": int(scored.verdicts["invalid"].sum()),
        "n_posts": len(scored.posts),
        "n_flagged_accounts": int(scored.accounts["flagged"].sum()),
        **{f"posts_{k}": int(v) for k, v in decisions.items()},
    }
    if window.unavailable_signals:
        summary["signals_not_used"] = "; ".join(window.unavailable_signals)
    return summary
