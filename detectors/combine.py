"""Combine window detections into one risk, reason and evidence per engagement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection


def combine(
    detections: Sequence[Detection],
    *,
    n_events: int,
    invalid_risk: float,
    weak: frozenset[str],
    weak_cap: float,
) -> pd.DataFrame:
    """Per engagement: ``risk`` (noisy-OR of the detectors), ``invalid``, ``reason`` and ``evidence``.

    Detectors named in ``weak`` (timing, text, account oddity) describe things
    honest users also do; without structural evidence from the other detectors
    their combined risk stays at ``weak_cap``, below the invalid threshold, so a
    pile of weak hints never withholds an honest creator's pay on its own.
    The reason names the detector with the strongest score; it and its evidence
    sentence are empty where the engagement stays valid.
    """
    if not detections:
        return pd.DataFrame(
            {
                "risk": np.zeros(n_events),
                "invalid": np.zeros(n_events, dtype=bool),
                "reason": pd.Series([""] * n_events, dtype="str"),
                "evidence": pd.Series([""] * n_events, dtype="str"),
            }
        )
    # one detector at a time: no detectors x events matrix
    weak_keep = np.ones(n_events)
    strong_keep = np.ones(n_events)
    best = np.full(n_events, -1.0)
    strongest = np.zeros(n_events, dtype=np.int64)
    for i, detection in enumerate(detections):
        score = np.clip(detection.event_score, 0.0, 1.0)
        keep = weak_keep if detection.name in weak else strong_keep
        keep *= 1.0 - score
        is_stronger = score > best
        strongest[is_stronger] = i
        np.maximum(best, score, out=best)
    weak_risk = np.minimum(1.0 - weak_keep, weak_cap)
    strong_risk = 1.0 - strong_keep
    risk = 1.0 - (1.0 - strong_risk) * (1.0 - weak_risk)
    invalid = risk >= invalid_risk
    names = [d.name for d in detections]
    reason_idx = np.where(invalid, strongest, -1)
    evidence_idx, texts = _evidence(detections, invalid, strongest)
    return pd.DataFrame(
        {
            "risk": risk,
            "invalid": invalid,
            "reason": _labels(reason_idx, names),
            "evidence": _labels(evidence_idx, texts),
        }
    )


def _evidence(
    detections: Sequence[Detection], invalid: npt.NDArray[np.bool_], strongest: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Per engagement the position of its evidence sentence (-1: none), and the sentences: an invalid
    engagement's comes from its strongest detector's group."""
    texts: list[str] = []
    evidence_idx = np.full(len(invalid), -1, dtype=np.int64)
    for i, detection in enumerate(detections):
        chosen = invalid & (strongest == i) & (detection.event_group >= 0)
        if not chosen.any() or detection.groups.empty:
            continue
        by_group = detection.groups.set_index("group_id")["evidence"].astype("str")
        position = pd.Series(np.arange(len(by_group)) + len(texts), index=by_group.index)
        evidence_idx[chosen] = position.reindex(detection.event_group[chosen]).fillna(-1).to_numpy(np.int64)
        texts.extend(by_group.tolist())
    return evidence_idx, texts


def _labels(index: np.ndarray, labels: list[str]) -> pd.Categorical:
    """A categorical of ``labels[index]`` with "" where ``index`` is -1."""
    categories = pd.Index(["", *dict.fromkeys(labels)], dtype="str")
    lookup = categories.get_indexer(pd.Index(labels, dtype="str")) if labels else np.zeros(0, dtype=np.int64)
    codes = np.where(index >= 0, lookup[np.maximum(index, 0)] if len(lookup) else 0, 0)
    return pd.Categorical.from_codes(codes, categories=categories)
