"""Replays: identical rows re-sent under the same event_id, and re-counts under new ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    DAY_US,
    MINUTE_US,
    REPLAY,
    SECOND_US,
    EventBlock,
    with_component,
)

COMPONENT_REPLAY = 10
EXACT_COPY_SHARE = 0.01
RECOUNT_SHARE = 0.004

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Replays:
    """Exact copies (same key, resent later) and re-counts (new key, same engagement)."""

    copies: EventBlock
    copies_sent_us: I64  # when each copy was re-sent: decides its position in the file
    recounts: EventBlock


def draw_replays(rng: np.random.Generator, events: EventBlock) -> Replays:
    """Return ~1% of events re-sent verbatim (a few twice) and ~0.4% re-counted."""
    n = len(events)
    copied = np.flatnonzero(rng.random(n) < EXACT_COPY_SHARE)
    times = np.where(rng.random(len(copied)) < 0.1, 2, 1)
    copied = np.repeat(copied, times)
    copies = events.take(copied)
    delay_us = np.exp(rng.uniform(np.log(MINUTE_US), np.log(2 * DAY_US), len(copied)))
    recounted = np.flatnonzero(rng.random(n) < RECOUNT_SHARE)
    source = events.take(recounted)
    shifted = source.ts_us + np.rint(
        np.exp(rng.uniform(np.log(2 * SECOND_US), np.log(10 * MINUTE_US), len(recounted)))
    )
    recounts = EventBlock(
        **{
            **source.__dict__,
            "ts_us": shifted.astype(np.int64),
            "scheme": np.full(len(recounted), REPLAY, np.int8),
        }
    )
    return Replays(
        copies=copies,
        copies_sent_us=copies.ts_us + np.rint(delay_us).astype(np.int64),
        recounts=with_component(recounts, COMPONENT_REPLAY),
    )
