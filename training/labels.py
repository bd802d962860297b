"""Review verdicts as training labels, and how each verdict was sampled.

Required columns (``LABEL_COLUMNS``): ``account_id``, ``label`` (1 fraud / 0 clean),
``decided_at`` (when the reviewer decided; the latest verdicts are held out to set
and judge a model's operating point).

Optional sampling columns (``SAMPLE_COLUMNS``), supplied by the review console:

- ``sampled_with_probability``: the probability, in (0, 1], with which the case was
  put in front of a reviewer. Reviewers see every flagged case (about 1) but only a
  random audit sample of the unflagged ones (the audit rate ``p``). Training and the
  held-out money estimates weigh each verdict by ``1 / sampled_with_probability``
  (inverse propensity), so the flagged-heavy verdicts stand for the whole week.
- ``sample``: how the case was sampled, one of ``SAMPLE_KINDS``: ``flagged`` (the
  scorer flagged it), ``audit`` (random sample of auto-decided and unflagged cases),
  ``uncertain`` (active learning: cases near the cut), ``dispute`` (a creator's
  dispute resolved by a reviewer). Reported per kind; it does not change a weight.

A verdict without ``sampled_with_probability`` (or with a missing value) weighs 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LABEL_COLUMNS = ("account_id", "label", "decided_at")
PROBABILITY = "sampled_with_probability"
SAMPLE = "sample"
SAMPLE_COLUMNS = (PROBABILITY, SAMPLE)
SAMPLE_KINDS = ("flagged", "audit", "uncertain", "dispute")


def read_labels(path: Path) -> pd.DataFrame:
    """Verdicts from a Parquet or CSV file; a clear error naming the file, column and row."""
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read labels ({error})") from None
    return clean_labels(raw, source=str(path))


def clean_labels(raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Verdicts checked and typed: account_id str, label 0/1, decided_at UTC, sampling columns checked.

    Extra columns are kept.
    """
    missing = [c for c in LABEL_COLUMNS if c not in raw]
    if missing:
        raise ValueError(f"{source}: missing column {', '.join(missing)} (need {', '.join(LABEL_COLUMNS)})")
    out = raw.copy()
    out["account_id"] = out["account_id"].astype("str")
    label = pd.to_numeric(out["label"], errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 1
        raise ValueError(
            f"{source}: column label must be 0 or 1; row {row} has {raw['label'].iloc[row - 1]!r}"
        )
    out["label"] = label.astype("int64")
    decided = pd.to_datetime(out["decided_at"], utc=True, errors="coerce")
    if decided.isna().any():
        row = int(decided.isna().to_numpy().argmax()) + 1
        value = raw["decided_at"].iloc[row - 1]
        raise ValueError(f"{source}: column decided_at is not a timestamp in row {row} ({value!r})")
    out["decided_at"] = decided
    return _clean_sampling(out, raw, source=source)


def _clean_sampling(out: pd.DataFrame, raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """The optional sampling columns checked: a probability in (0, 1] (or missing), a known kind."""
    if PROBABILITY in out:
        probability = pd.to_numeric(out[PROBABILITY], errors="coerce")
        given = raw[PROBABILITY].notna().to_numpy()
        bad = given & ~((probability > 0) & (probability <= 1)).to_numpy()
        if bad.any():
            row = int(bad.argmax()) + 1
            value = raw[PROBABILITY].iloc[row - 1]
            raise ValueError(f"{source}: column {PROBABILITY} must be in (0, 1]; row {row} has {value!r}")
        out[PROBABILITY] = probability.astype("float64")
    if SAMPLE in out:
        kind = out[SAMPLE].astype("str").where(out[SAMPLE].notna(), "")
        bad = (~kind.isin([*SAMPLE_KINDS, ""])).to_numpy()
        if bad.any():
            row = int(bad.argmax()) + 1
            raise ValueError(
                f"{source}: column {SAMPLE} must be one of {', '.join(SAMPLE_KINDS)}; "
                f"row {row} has {raw[SAMPLE].iloc[row - 1]!r}"
            )
        out[SAMPLE] = kind
    return out


def label_weights(labels: pd.DataFrame) -> pd.Series:
    """Per verdict: its inverse-propensity weight ``1 / sampled_with_probability``, 1 where not given."""
    if PROBABILITY not in labels:
        return pd.Series(np.ones(len(labels)), index=labels.index, dtype="float64")
    probability = labels[PROBABILITY].astype("float64")
    return (1.0 / probability).where(probability.notna(), 1.0)


def sample_counts(labels: pd.DataFrame) -> dict[str, float]:
    """Verdicts per sampling kind (``labels_sample_<kind>``); empty when the column is absent."""
    if SAMPLE not in labels:
        return {}
    counts = labels[SAMPLE].replace("", "unknown").value_counts()
    return {f"labels_sample_{kind}": float(n) for kind, n in counts.items()}
