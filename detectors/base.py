"""The shared result type of window detectors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Detection:
    """What one window detector found in a window of events.

    Window detectors (lockstep groups, dense blocks, rings, rules) are pure
    functions ``events -> Detection``; arrays are aligned with the row order
    of the events frame they were given.

    Attributes
    ----------
    name:
        The reason code this detector contributes (``lockstep``, ``dense_block``...).
    event_score:
        float64 in [0, 1] per event: how strongly this detector says the event is inflated.
    event_group:
        int64 per event: the id of the group (row of ``groups``) that explains the
        score, -1 where none.
    groups:
        One row per group with at least ``group_id`` (int), ``n_accounts``, ``n_posts``
        and ``evidence`` (a sentence with the numbers, for reviewers), plus any
        detector-specific columns.
    """

    name: str
    event_score: npt.NDArray[np.float64]
    event_group: npt.NDArray[np.int64]
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        if self.event_score.shape != self.event_group.shape:
            raise ValueError(f"{self.name}: event_score and event_group differ in length")

    @classmethod
    def empty(cls, name: str, n_events: int) -> Detection:
        """A detection that found nothing in ``n_events`` events."""
        return cls(
            name=name,
            event_score=np.zeros(n_events, dtype=np.float64),
            event_group=np.full(n_events, -1, dtype=np.int64),
            groups=pd.DataFrame(
                {
                    "group_id": pd.Series(dtype="int64"),
                    "n_accounts": pd.Series(dtype="int64"),
                    "n_posts": pd.Series(dtype="int64"),
                    "evidence": pd.Series(dtype="string"),
                }
            ),
        )
