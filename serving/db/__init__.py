"""The settlement database: tables, engine with migrations, and the repository."""

from serving.db.engine import make_engine, migrate
from serving.db.repository import Repository

__all__ = ["Repository", "make_engine", "migrate"]
