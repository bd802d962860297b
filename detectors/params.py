"""The one parameter tree of a scoring run: every knob reachable, logged and hashed.

Each detector declares its own frozen params class beside its code; this module
nests them, with the money policy's thresholds, into ``ScoringParams`` (the
scikit-learn ``get_params`` idea). The defaults written in those classes are the
only defaults: Settings, the service and training read them from here.
``rules_version`` digests everything that changes a verdict and nothing else
(the number of detector threads does not), so two settlements that name the
same rules version were decided under the same thresholds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from typing import Any

from detectors.anomaly import AnomalyParams
from detectors.audiences import AudienceParams
from detectors.dense import DenseBlockParams
from detectors.infra import IpFarmParams
from detectors.lockstep import LockstepParams
from detectors.lookback import HistoryParams
from detectors.pools import PoolParams
from detectors.reputation import KnownSellerParams
from detectors.rings import RingParams
from detectors.rules import BurstParams, DeviceFarmParams, DuplicateParams, NewAccountParams, ScriptedParams
from detectors.spread import SpreadParams


@dataclass(frozen=True)
class PolicyParams:
    """The money policy: when an engagement is unpaid, a post held, an account flagged."""

    # an engagement at or above this risk is invalid: not paid
    invalid_risk: float = 0.5
    # from this risk up to ``invalid_risk`` an engagement is uncertain (the review band)
    review_risk: float = 0.46
    # weak signals alone (timing, text, account oddity) stay this far below the review band
    weak_margin: float = 0.01
    # on a post whose invalid share of claimed engagements reaches this, its valid engagements with
    # risk within ``hold_rest_margin`` of ``invalid_risk`` are held for review too; the rest is paid
    hold_invalid_share: float = 0.9
    # how near the cut a valid engagement of such a post must lie to be held (the margin of the review
    # queue's uncertain sample, policy.UNCERTAIN_MARGIN; above invalid_risk: its whole valid rest)
    hold_rest_margin: float = 0.15
    # a post with this share of its claimed engagements uncertain is held whole for review (below it,
    # only its uncertain engagements are held: policy.held_engagements)
    hold_uncertain_share: float = 0.2
    # an engaging account at or above this risk is flagged for review
    account_flag_risk: float = 0.5
    # a creator with this share of a post's claimed engagement bought is flagged
    creator_flag_invalid_share: float = 0.2
    # posts with fewer claimed engagements say too little about their creator
    creator_min_post_claimed: int = 20
    # price per counted engagement when no campaign price is known
    default_unit_price: float = 1.0

    @property
    def weak_cap(self) -> float:
        """The highest risk weak signals alone can give: just below the review band."""
        # rounded so that 0.46 - 0.01 is exactly 0.45, not 0.45000000000000007
        return round(self.review_risk - self.weak_margin, 12)


@dataclass(frozen=True)
class DetectorParams:
    """One params object per detector of the registry, named by its reason code."""

    duplicate: DuplicateParams = field(default_factory=DuplicateParams)
    device_farm: DeviceFarmParams = field(default_factory=DeviceFarmParams)
    new_account: NewAccountParams = field(default_factory=NewAccountParams)
    burst: BurstParams = field(default_factory=BurstParams)
    scripted: ScriptedParams = field(default_factory=ScriptedParams)
    ip_farm: IpFarmParams = field(default_factory=IpFarmParams)
    lockstep: LockstepParams = field(default_factory=LockstepParams)
    dense_block: DenseBlockParams = field(default_factory=DenseBlockParams)
    pool: PoolParams = field(default_factory=PoolParams)
    ring: RingParams = field(default_factory=RingParams)
    anomaly: AnomalyParams = field(default_factory=AnomalyParams)
    known_seller: KnownSellerParams = field(default_factory=KnownSellerParams)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a detector added since the scorer was pickled takes its default params."""
        for item in fields(self):
            if item.name not in state and item.default_factory is not MISSING:
                state[item.name] = item.default_factory()
        self.__dict__.update(state)

    def of(self, name: str) -> Any:
        """The params object of the detector with reason code ``name``."""
        return getattr(self, name)


@dataclass(frozen=True)
class RuntimeParams:
    """How a run computes, never what it decides: left out of ``rules_version``."""

    # detector threads share the window (no copy, nothing pickled); on 2 cores two threads
    # cut the detectors' wall time by about a third when a core is free (benchmarks/run.py)
    workers: int = 2
    # smaller windows run their detectors serially: threads cost more than they save
    parallel_from_events: int = 50_000


@dataclass(frozen=True)
class ScoringParams:
    """Everything a scoring run is decided with: policy, detectors, audiences, spreading, disabled ones."""

    policy: PolicyParams = field(default_factory=PolicyParams)
    detectors: DetectorParams = field(default_factory=DetectorParams)
    # the audience communities the group tests count chance within (pools, dense blocks)
    audience: AudienceParams = field(default_factory=AudienceParams)
    spread: SpreadParams = field(default_factory=SpreadParams)
    # how a window reads its history: all of it, or its evidence and last days (``detectors.lookback``)
    history: HistoryParams = field(default_factory=HistoryParams)
    disabled: frozenset[str] = frozenset()
    runtime: RuntimeParams = field(default_factory=RuntimeParams)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a section added since the params were pickled takes its defaults."""
        for item in fields(self):
            if item.name not in state and item.default_factory is not MISSING:
                state[item.name] = item.default_factory()
        self.__dict__.update(state)

    def get_params(self) -> dict[str, Any]:
        """Every knob as ``section__detector__name``: value (scikit-learn's deep ``get_params``)."""
        return _flatten(self, prefix="")

    def set_params(self, **values: Any) -> ScoringParams:
        """A copy with knobs set by their ``get_params`` names; an unknown name raises ValueError."""
        known = self.get_params()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown scoring parameters: {', '.join(unknown)}")
        result: Any = self
        for name, value in values.items():
            _check_type(name, known[name], value)
            result = _set(result, name.split("__"), value)
        return result  # type: ignore[no-any-return]


def rules_version(params: ScoringParams) -> str:
    """``rules-`` and the first 12 hex digits of the SHA-256 of every knob that changes a verdict."""
    decisive = {k: v for k, v in params.get_params().items() if not k.startswith("runtime__")}
    payload = json.dumps(decisive, sort_keys=True, default=str)
    return "rules-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def _flatten(node: Any, *, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in fields(node):
        value = getattr(node, item.name)
        name = f"{prefix}{item.name}"
        if is_dataclass(value):
            out.update(_flatten(value, prefix=f"{name}__"))
        else:
            out[name] = sorted(value) if isinstance(value, frozenset) else value
    return out


def _check_type(name: str, current: Any, value: Any) -> None:
    """Refuse a switch set to anything but a bool and a number set to text or a bool: the string
    "False" is true, so a mistyped switch would silently stay on."""
    if isinstance(current, bool) and not isinstance(value, bool):
        raise ValueError(f"scoring parameter {name} takes true or false, not {value!r}")
    is_number = isinstance(current, int | float) and not isinstance(current, bool)
    if is_number and (isinstance(value, str | bool) or value is None):
        raise ValueError(f"scoring parameter {name} takes a number, not {value!r}")


def _set(node: Any, path: list[str], value: Any) -> Any:
    head, *rest = path
    if not rest:
        current = getattr(node, head)
        return replace(node, **{head: frozenset(value) if isinstance(current, frozenset) else value})
    return replace(node, **{head: _set(getattr(node, head), rest, value)})


def params_from_dict(flat: dict[str, Any]) -> ScoringParams:
    """``ScoringParams`` from ``get_params`` output (a logged run, a stored detection run)."""
    return ScoringParams().set_params(**flat)


def params_from_json(text: str) -> ScoringParams:
    """``ScoringParams`` from ``as_json`` text; a knob it lacks (added since) keeps its default.

    A knob it names that no longer exists is left out: the run that stored it is
    still named by its own rules version.
    """
    known = ScoringParams().get_params()
    stored = {
        k: tuple(v) if isinstance(v, list) and k != "disabled" else v for k, v in json.loads(text).items()
    }
    return ScoringParams().set_params(**{k: v for k, v in stored.items() if k in known})


def as_json(params: ScoringParams) -> str:
    """The params as stable JSON (stored with a detection run, logged with a model)."""
    return json.dumps(params.get_params(), sort_keys=True, default=str)


__all__ = [
    "DetectorParams",
    "PolicyParams",
    "RuntimeParams",
    "ScoringParams",
    "as_json",
    "params_from_dict",
    "params_from_json",
    "rules_version",
]
