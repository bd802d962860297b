"""Alembic migrations of the settlement database, applied on start."""
