"""The API's constrained values, one rule each for bodies, paths and queries: ids, text without NUL,
money amounts, unit prices and amounts sent in (a request breaking one is refused with 422)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, WithJsonSchema

from features.columns import ID_MAX_LENGTH, MAX_PRICE, PRICE_DECIMALS

__all__ = ["ID_PATTERN", "NO_NUL", "Amount", "Id", "Money", "Price"]

# ids the API names in paths and bodies: plain names, not only dots (never a '..' path piece)
ID_PATTERN = r"^[A-Za-z0-9_.:\-]*[A-Za-z0-9_:\-][A-Za-z0-9_.:\-]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
# free text and looked-up keys: PostgreSQL text cannot hold NUL, so it is refused here (422)
NO_NUL = r"^[^\x00]*$"
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]
_DECIMALS = f"(\\.[0-9]{{1,{PRICE_DECIMALS}}})"
Price = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_PRICE,
        decimal_places=PRICE_DECIMALS,
    ),
    # documented as the decimal string clients send (a JSON number is read too)
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^([0-9]{{1,6}}{_DECIMALS}?|{MAX_PRICE}(\\.0{{1,{PRICE_DECIMALS}}})?)$",
            "description": f"unit price, 0 to {MAX_PRICE} with at most {PRICE_DECIMALS} decimals",
            "examples": ["0.30"],
        }
    ),
]


# an amount of money sent in: above 0, the money columns' 16 integer digits and 2 decimals
Amount = Annotated[
    Decimal,
    Field(gt=0, max_digits=18, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(0*[1-9][0-9]{0,15}(\.[0-9]{1,2})?|0*\.([1-9][0-9]?|0[1-9]))$",
            "description": "an amount above 0 with at most 2 decimals, as a decimal string",
            "examples": ["12.50"],
        }
    ),
]
