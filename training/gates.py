"""Promotion gates: a new scorer becomes champion only if it is no worse and moves little money."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# suite metrics where lower is better; every other compared metric is higher-is-better
LOWER_IS_BETTER = frozenset(
    {"honest_flagged_share", "honest_payout_withheld_share", "honest_payout_held_share"}
)
COMPARED_PREFIXES = ("recall_",)
COMPARED = frozenset(
    {
        "average_precision",
        "precision",
        "recall",
        "honest_flagged_share",
        "fraud_payout_withheld_share",
        "honest_payout_withheld_share",
        "creator_precision",
        "creator_recall",
    }
)


@dataclass(frozen=True)
class GateConfig:
    """Tolerances of the gates (from Settings).

    ``tolerance``: how much worse than the champion any suite metric may be.
    ``max_payout_change``: the money backtest's bound on the summed per-creator
    change of payout, as a share of what was paid. ``floors`` and ``ceilings``
    are the absolute bounds a first model must meet.
    """

    tolerance: float = 0.02
    max_payout_change: float = 0.10
    floors: Mapping[str, float] = field(
        default_factory=lambda: {
            "average_precision": 0.9,
            "precision": 0.95,
            "fraud_payout_withheld_share": 0.9,
        }
    )
    ceilings: Mapping[str, float] = field(default_factory=lambda: {"honest_payout_withheld_share": 0.01})


@dataclass(frozen=True)
class BacktestOutcome:
    """What the money backtest found (``change_share`` is None when nothing was settled)."""

    n_settlements: int
    paid: float
    would_pay: float
    abs_change: float
    change_share: float | None
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate passes, and every reason it does not."""

    passed: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """One line for the run's tag and param."""
        return "; ".join(self.reasons) if self.reasons else "passed"


def _is_compared(name: str) -> bool:
    return name in COMPARED or name.startswith(COMPARED_PREFIXES)


def compare_with_champion(
    candidate: Mapping[str, float], champion: Mapping[str, float], *, tolerance: float
) -> list[str]:
    """Each suite metric where the candidate is worse than the champion by more than ``tolerance``."""
    reasons = []
    for name in sorted(set(candidate) & set(champion)):
        new, old = candidate[name], champion[name]
        if not _is_compared(name) or math.isnan(new) or math.isnan(old):
            continue
        worse_by = new - old if name in LOWER_IS_BETTER else old - new
        if worse_by > tolerance:
            reasons.append(
                f"{name} {new:.4f} is worse than the champion's {old:.4f} by more than {tolerance}"
            )
    return reasons


def check_floors(candidate: Mapping[str, float], config: GateConfig) -> list[str]:
    """Each absolute floor or ceiling the candidate misses (the gate of a first model)."""
    reasons = []
    for name, floor in sorted(config.floors.items()):
        value = candidate.get(name, math.nan)
        if math.isnan(value):
            reasons.append(f"{name} is missing (floor {floor})")
        elif value < floor:
            reasons.append(f"{name} {value:.4f} is below the floor {floor}")
    for name, ceiling in sorted(config.ceilings.items()):
        value = candidate.get(name, math.nan)
        if math.isnan(value):
            reasons.append(f"{name} is missing (ceiling {ceiling})")
        elif value > ceiling:
            reasons.append(f"{name} {value:.4f} is above the ceiling {ceiling}")
    return reasons


def judge(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    backtest: BacktestOutcome,
    config: GateConfig,
) -> GateResult:
    """The gate decision: floors (first model) or no regression (later ones), then the money bound."""
    reasons = (
        check_floors(candidate, config)
        if champion is None
        else compare_with_champion(candidate, champion, tolerance=config.tolerance)
    )
    if backtest.change_share is not None and backtest.change_share > config.max_payout_change:
        reasons.append(
            f"money backtest: payouts of {backtest.n_settlements} settlements would change by "
            f"{backtest.change_share:.2%} (bound {config.max_payout_change:.0%})"
        )
    return GateResult(passed=not reasons, reasons=tuple(reasons))
