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


# metrics judged on held-out verdicts at each model's own operating point; honest money is lower-is-better
VERDICT_COMPARED = ("average_precision", "precision", "honest_withheld")
# with held-out verdicts judging, what a first model must still meet on the suite (money caught there)
SUITE_FLOORS_WITH_VERDICTS = frozenset({"fraud_payout_withheld_share"})


@dataclass(frozen=True)
class GateConfig:
    """Tolerances of the gates (from Settings).

    ``tolerance``: how much worse than the champion any suite metric, or AP and
    precision on the held-out verdicts, may be. ``money_tolerance``: how much more
    honest payout (a share) the candidate may withhold on the held-out verdicts.
    ``max_payout_change``: the money backtest's bound on the summed per-creator
    change of payout, as a share of what was paid. ``floors`` and ``ceilings``
    are the absolute bounds a first model must meet. ``min_reason_accounts``: a reason
    code's precision on the held-out verdicts is compared only when it flagged at
    least this many labelled accounts for both (its honest money always is).
    """

    tolerance: float = 0.02
    money_tolerance: float = 0.001
    min_reason_accounts: int = 10
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
class VerdictJudgement:
    """The candidate and its reference measured on the same held-out verdicts, each at its own point.

    ``data`` says which verdicts; ``reference`` names what the candidate is compared
    with (the champion's version, or the cold scorer when there is none).
    """

    candidate: Mapping[str, float]
    baseline: Mapping[str, float]
    reference: str
    data: str


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
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    tolerance: float,
    data: str,
    schemes_only: bool = False,
) -> list[str]:
    """Each suite metric (per scheme only, if asked) worse than the champion's by more than ``tolerance``."""
    reasons = []
    for name in sorted(set(candidate) & set(champion)):
        new, old = candidate[name], champion[name]
        if not _is_compared(name) or math.isnan(new) or math.isnan(old):
            continue
        if schemes_only and not name.startswith(COMPARED_PREFIXES):
            continue
        worse_by = new - old if name in LOWER_IS_BETTER else old - new
        if worse_by > tolerance:
            reasons.append(
                f"{data}: {name} {new:.4f} is worse than the champion's {old:.4f} by more than {tolerance}"
            )
    return reasons


def check_floors(
    candidate: Mapping[str, float], config: GateConfig, *, data: str, only: frozenset[str] | None = None
) -> list[str]:
    """Each absolute floor or ceiling the candidate misses (a first model's gate), of ``only`` if given."""
    reasons = []
    for name, floor in sorted(config.floors.items()):
        value = candidate.get(name, math.nan)
        if only is not None and name not in only:
            continue
        if math.isnan(value):
            reasons.append(f"{data}: {name} is missing (floor {floor})")
        elif value < floor:
            reasons.append(f"{data}: {name} {value:.4f} is below the floor {floor}")
    for name, ceiling in sorted(config.ceilings.items()):
        value = candidate.get(name, math.nan)
        if only is not None and name not in only:
            continue
        if math.isnan(value):
            reasons.append(f"{data}: {name} is missing (ceiling {ceiling})")
        elif value > ceiling:
            reasons.append(f"{data}: {name} {value:.4f} is above the ceiling {ceiling}")
    return reasons


def compare_on_verdicts(verdicts: VerdictJudgement, config: GateConfig) -> list[str]:
    """Each of AP, precision and honest money withheld where the candidate is worse than its reference.

    Both are measured on the same held-out verdicts, each at its own operating point.
    """
    new, old = verdicts.candidate, verdicts.baseline
    reasons = []
    for name in VERDICT_COMPARED:
        a, b = new.get(name, math.nan), old.get(name, math.nan)
        if math.isnan(a) or math.isnan(b):
            continue
        is_money = name == "honest_withheld"
        tolerance = config.money_tolerance if is_money else config.tolerance
        if (a - b if is_money else b - a) > tolerance:
            shown = (f"{a:.4%}", f"{b:.4%}") if is_money else (f"{a:.4f}", f"{b:.4f}")
            reasons.append(
                f"held-out verdicts ({verdicts.data}): {name} {shown[0]} at the candidate's cut "
                f"{new.get('cut', math.nan):.2f} is worse than {verdicts.reference}'s {shown[1]} at its cut "
                f"{old.get('cut', math.nan):.2f} by more than {tolerance}"
            )
    return reasons + _compare_reasons(verdicts, config)


def _compare_reasons(verdicts: VerdictJudgement, config: GateConfig) -> list[str]:
    """Per reason code: precision (with enough accounts on both sides) and honest money it withheld."""
    new, old = verdicts.candidate, verdicts.baseline
    codes = sorted({name.split(".", 2)[2] for name in new if name.startswith("precision.reason.")})
    reasons = []
    for code in codes:
        n_new, n_old = new.get(f"accounts.reason.{code}", 0.0), old.get(f"accounts.reason.{code}", 0.0)
        a, b = new[f"precision.reason.{code}"], old.get(f"precision.reason.{code}", math.nan)
        if min(n_new, n_old) >= config.min_reason_accounts and b - a > config.tolerance:
            reasons.append(
                f"held-out verdicts ({verdicts.data}): reason {code}: precision {a:.4f} on {n_new:.0f} "
                f"accounts is worse than {verdicts.reference}'s {b:.4f} on {n_old:.0f} by more than "
                f"{config.tolerance}"
            )
        money_new = new.get(f"honest_withheld.reason.{code}", 0.0)
        money_old = old.get(f"honest_withheld.reason.{code}", 0.0)
        if money_new - money_old > config.money_tolerance:
            reasons.append(
                f"held-out verdicts ({verdicts.data}): reason {code}: honest_withheld {money_new:.4%} is "
                f"worse than {verdicts.reference}'s {money_old:.4%} by more than {config.money_tolerance}"
            )
    return reasons


def judge(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    backtest: BacktestOutcome,
    config: GateConfig,
    *,
    suite_data: str = "simulated suite",
    verdicts: VerdictJudgement | None = None,
) -> GateResult:
    """The gate decision, then the money bound.

    With held-out verdicts: they judge AP, precision and honest money, and the
    simulated suite is a floor per scheme (against the champion) or on fraud money
    caught (a first model). Without: the suite judges, floors for a first model and
    no regression against the champion for later ones.
    """
    if verdicts is not None:
        reasons = compare_on_verdicts(verdicts, config)
        reasons += (
            check_floors(candidate, config, data=suite_data, only=SUITE_FLOORS_WITH_VERDICTS)
            if champion is None
            else compare_with_champion(
                candidate, champion, tolerance=config.tolerance, data=suite_data, schemes_only=True
            )
        )
    elif champion is None:
        reasons = check_floors(candidate, config, data=suite_data)
    else:
        reasons = compare_with_champion(candidate, champion, tolerance=config.tolerance, data=suite_data)
    if backtest.change_share is not None and backtest.change_share > config.max_payout_change:
        reasons.append(
            f"money backtest: payouts of {backtest.n_settlements} settlements would change by "
            f"{backtest.change_share:.2%} (bound {config.max_payout_change:.0%})"
        )
    return GateResult(passed=not reasons, reasons=tuple(reasons))
