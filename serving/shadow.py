"""The challenger in the shadow: a run's events scored again, per-creator payout differences logged
and kept beside the run's outputs, never enforced."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from serving.scorers import VersionedScorer

log = logging.getLogger("cpeguard.shadow")


def shadow_score(
    out_dir: Path,
    run_id: str,
    events: pd.DataFrame,
    campaigns: pd.DataFrame,
    decided: pd.DataFrame,
    champion: VersionedScorer,
    challenger: VersionedScorer,
) -> None:
    """Score a run again with the challenger; log per-creator payout differences and keep them in
    the run's ``out_dir``."""
    try:
        diff = shadow_differences(decided, challenger.scorer.score(events, campaigns=campaigns).posts)
        _publish(diff, out_dir / "shadow.parquet")
    except Exception:
        log.exception("shadow: challenger %s failed on run %s", challenger.version, run_id)
        return
    changed = diff[diff["change"].abs() >= 0.005]
    log.info(
        "shadow: run %s, challenger %s vs champion %s: %d creators paid differently, total %+.2f of %.2f",
        run_id,
        challenger.version,
        champion.version,
        len(changed),
        float(diff["change"].sum()),
        float(diff["champion_payable"].sum()),
    )
    for row in changed.head(50).itertuples():
        log.info(
            "shadow: run %s creator %s champion %.2f challenger %.2f (%+.2f)",
            run_id,
            row.creator_id,
            row.champion_payable,
            row.challenger_payable,
            row.change,
        )


def _publish(diff: pd.DataFrame, path: Path) -> None:
    """Write through a temporary name and a rename: a reader polling for the file never opens a
    half-written one."""
    tmp = path.with_name(f".{path.name}.tmp")
    diff.to_parquet(tmp, index=False)
    tmp.replace(path)


def shadow_differences(champion_posts: pd.DataFrame, challenger_posts: pd.DataFrame) -> pd.DataFrame:
    """Per creator: payable under the champion and the challenger, and the change, largest first."""

    def per_creator(posts: pd.DataFrame) -> pd.Series:
        return (
            posts.assign(creator_id=posts["creator_id"].astype("str")).groupby("creator_id")["payable"].sum()
        )

    table = pd.DataFrame(
        {"champion_payable": per_creator(champion_posts), "challenger_payable": per_creator(challenger_posts)}
    ).fillna(0.0)
    table["change"] = (table["challenger_payable"] - table["champion_payable"]).round(6)
    table = table.rename_axis("creator_id").reset_index()
    return table.sort_values("change", key=abs, ascending=False, ignore_index=True)
