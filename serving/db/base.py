"""The declarative base every table of the settlement service maps onto, and its money columns."""

from __future__ import annotations

from sqlalchemy import Numeric
from sqlalchemy.orm import DeclarativeBase

MONEY = Numeric(18, 2)
PRICE = Numeric(18, 6)


class Base(DeclarativeBase):
    """Declarative base of every table."""
