"""Random-looking identifiers derived from (namespace, index) keys.

Identifiers are pure functions of the seed and a per-component key, never of
the position in the final file, so a fraud account's id carries no pattern and
switching one component off does not renumber the others.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_HEX_CHARS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
NAMESPACE_SHIFT = 40

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Strings = npt.NDArray[np.str_]


def seed_key(seed: int, salt: int) -> np.uint64:
    """Return a 64-bit key mixing the simulation seed with a component salt."""
    state = np.random.SeedSequence([seed, salt]).generate_state(2, dtype=np.uint64)
    return np.uint64(state[0])


def mix64(values: U64) -> U64:
    """Return splitmix64's finaliser of each value (a bijection on 64 bits)."""
    z = values.astype(np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def namespaced(namespace: int, index: npt.NDArray[np.integer]) -> I64:
    """Return keys ``namespace << 40 | index`` (index below 2**40)."""
    return (np.int64(namespace) << np.int64(NAMESPACE_SHIFT)) | index.astype(np.int64)


def hashed_uniform(keys: I64, *, key: np.uint64) -> npt.NDArray[np.float64]:
    """Return a uniform [0, 1) number per key, reproducible from the key alone."""
    h = mix64(keys.astype(np.uint64) ^ key)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def hex_strings(keys: I64, *, key: np.uint64, n_chars: int) -> Strings:
    """Return hashed lower-case hex strings of ``n_chars`` characters per key."""
    h = mix64(keys.astype(np.uint64) ^ key)
    shifts = np.arange(n_chars - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (h[:, None] >> shifts[None, :]) & np.uint64(15)
    chars = np.ascontiguousarray(_HEX_CHARS[nibbles])
    return chars.view(f"S{n_chars}").ravel().astype(f"U{n_chars}")


def permuted(index: npt.NDArray[np.integer], *, bits: int, key: np.uint64) -> U64:
    """Return a keyed pseudo-random permutation of ``index`` within [0, 2**bits).

    A four-round Feistel network on two halves of ``bits / 2`` bits: a bijection,
    so distinct indices always give distinct numbers.
    """
    if bits % 2:
        raise ValueError("bits must be even")
    half = np.uint64(bits // 2)
    mask = np.uint64((1 << (bits // 2)) - 1)
    x = index.astype(np.uint64)
    left, right = x >> half, x & mask
    for round_ in range(4):
        round_key = np.uint64((int(key) + round_ * int(_GOLDEN)) % (1 << 64))
        left, right = right, left ^ (mix64(right ^ round_key) & mask)
    return (left << half) | right


def decimal_strings(prefix: str, numbers: npt.NDArray[np.integer], *, width: int) -> Strings:
    """Return ``prefix`` followed by each number zero-padded to ``width`` digits."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = numbers.astype(np.uint64)
    for col in range(width - 1, -1, -1):
        chars[:, len(head) + col] = (rest % np.uint64(10)).astype(np.uint8) + 48
        rest = rest // np.uint64(10)
    total = len(head) + width
    return chars.view(f"S{total}").ravel().astype(f"U{total}")
