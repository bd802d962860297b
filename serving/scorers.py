"""The scorers detection decides with: a scorer under its version name, and the active pair."""

from __future__ import annotations

from dataclasses import dataclass

from detectors.model import WindowScorer
from detectors.params import ScoringParams

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
