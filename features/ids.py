"""Which values can be ids: at most ``ID_MAX_LENGTH`` characters, no control or format character,
no '..' path piece (the data contract's id rule, for a column and for a single value)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from features.columns import ID_FORBIDDEN_CHARACTERS, ID_MAX_LENGTH, ID_PATH_PIECE

_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def id_reasons(values: pa.Array | pa.ChunkedArray, *, column: str) -> npt.NDArray[np.object_]:
    """Per value, why it cannot be an id of ``column``: None where it can (nulls and empties pass here).

    One regular-expression pass over the Arrow strings; only the few bad values are looked at again.
    """
    reason: npt.NDArray[np.object_] = np.full(len(values), None, dtype=object)
    too_long = pc.greater(pc.utf8_length(values), ID_MAX_LENGTH)
    if _plain_ascii(values):
        bad = too_long.fill_null(False)
    else:
        pattern = f"{ID_FORBIDDEN_CHARACTERS}|{ID_PATH_PIECE}"
        bad = pc.or_(too_long, pc.match_substring_regex(values, pattern)).fill_null(False)
    if not pc.any(bad).as_py():
        return reason
    where = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    picked = pc.take(values, pa.array(where))
    checks = (
        (pc.match_substring_regex(picked, ID_PATH_PIECE), f"{column} has a '..' path piece"),
        (
            pc.greater(pc.utf8_length(picked), ID_MAX_LENGTH),
            f"{column} is longer than {ID_MAX_LENGTH} characters",
        ),
        (
            pc.match_substring_regex(picked, ID_FORBIDDEN_CHARACTERS),
            f"{column} holds a control or format character (e.g. NUL, newline, a bidi mark)",
        ),
    )
    for hit, text in checks:  # the last that applies is given
        reason[where[hit.to_numpy(zero_copy_only=False)]] = text
    return reason


def _plain_ascii(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether the strings' bytes are all printable ASCII without a '..': then only length can be wrong.

    Looks at the data buffers, not the rows (a few milliseconds for a million ids); bytes
    outside the array's slice only send it to the row-by-row check.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is None:
            continue
        text = data.to_pybytes()
        if text.translate(None, _PRINTABLE_ASCII) or b".." in text:
            return False
    return True


def id_problem(value: str, *, column: str) -> str | None:
    """Why one value cannot be an id of ``column`` (the batch's rule, for a single request field)."""
    if not value:
        return f"empty {column}"
    found = id_reasons(pa.array([value], type=pa.large_string()), column=column)[0]
    return None if found is None else str(found)
