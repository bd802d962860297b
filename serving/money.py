"""The money rule of a settlement: exact amounts, each total rounded once, lines in cents adding up to it.

A post's amounts are ``count x unit price``; unit prices have at most 6 decimal places,
so every amount is exact at 6 places (``exact``). A settlement's total of one kind of
money (payable, held, otherwise withheld) is the sum of its posts' exact amounts rounded
once to cents (``ROUNDING``, half to even). Each post's line is that total apportioned in
cents by largest remainder (``apportion``): a line is its exact amount rounded down to the
cent, plus one cent for the lines with the largest remainders until the lines add up to the
total (ties to the earlier line, lines being in post_id order). So a line is within one cent
of its exact amount, and 1,000 posts of 3 likes at 0.015 pay 45.00, not 1,000 x 0.04 or 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
EXACT = Decimal("0.000001")  # the places of a unit price, hence of any count x price
ROUNDING = ROUND_HALF_EVEN
ZERO = Decimal("0.00")


def exact(value: float) -> Decimal:
    """A sum of ``count x unit price`` decided in floating point, as the exact Decimal it stands for."""
    return Decimal(repr(round(float(value), 6))).quantize(EXACT)


def rounded_total(amounts: Sequence[Decimal]) -> Decimal:
    """The exact amounts' sum rounded once to cents."""
    return sum(amounts, Decimal(0)).quantize(CENT, rounding=ROUNDING)


def apportion(amounts: Sequence[Decimal]) -> list[Decimal]:
    """Cents per amount adding up to ``rounded_total(amounts)``, each within a cent of its amount.

    Every amount is rounded down to the cent; the cents left to reach the total go one each
    to the amounts with the largest remainders (the earlier one first on a tie). Only amounts
    with a remainder get one, so an amount already in cents (zero included) is kept as it is.
    """
    floors = [a.quantize(CENT, rounding=ROUND_FLOOR) for a in amounts]
    left = int((rounded_total(amounts) - sum(floors, ZERO)) / CENT)
    by_remainder = sorted(range(len(amounts)), key=lambda i: (floors[i] - amounts[i], i))
    for i in by_remainder[:left]:
        floors[i] += CENT
    return floors


def to_decimal(value: float) -> Decimal:
    """A float amount as cents."""
    return Decimal(repr(round(float(value), 6))).quantize(Decimal("0.01"))
