"""The scorers detection decides with: a scorer under its version name, and the active pair."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from detectors.model import WindowScorer
from detectors.scorer import ScoringParams

COLD = "cold"
REGISTRY = "registry"


@dataclass(frozen=True)
class VersionedScorer:
    """A window scorer and the version every run and settlement it makes is named with."""

    version: str
    scorer: WindowScorer

    @property
    def params(self) -> ScoringParams:
        """The scorer's pinned thresholds."""
        return self.scorer.params

    @property
    def rules_version(self) -> str:
        """The digest of the scorer's pinned thresholds."""
        return self.scorer.rules_version


@dataclass(frozen=True)
class ActiveModels:
    """The scorer that decides and the one that only shadows it, swapped as one object.

    Detection reads its ``active`` attribute once per run, so a run never mixes a
    champion and a challenger from two different loads.
    """

    champion: VersionedScorer
    challenger: VersionedScorer | None
    source: str  # REGISTRY, or COLD: the unsupervised detectors under the service's own thresholds


def params_to_json(params: ScoringParams) -> str:
    """The thresholds as JSON (nested params objects as objects, sets as sorted lists)."""
    return json.dumps(_plain(params), sort_keys=True)


def params_from_json(text: str) -> ScoringParams:
    """Thresholds from ``params_to_json``; a knob the JSON lacks (added since) takes its default."""
    built = _build(ScoringParams, json.loads(text))
    assert isinstance(built, ScoringParams)
    return built


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: _typed(hints[name], value) for name, value in data.items() if name in known})


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return _typed(options[0], value) if len(options) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    origin = typing.get_origin(hint) or hint
    if origin in (frozenset, set):
        return frozenset(value)
    if origin is tuple:
        return tuple(value)
    return value
