"""The settlement database: tables, engine with migrations, and one repository per entity."""

from serving.db.database import Database, as_utc, utcnow
from serving.db.engine import make_engine, migrate
from serving.db.repositories import Repositories

__all__ = ["Database", "Repositories", "as_utc", "make_engine", "migrate", "utcnow"]
