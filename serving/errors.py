"""Errors the services raise; the app maps each to one HTTP status with a plain message."""

from __future__ import annotations


class ServiceError(Exception):
    """An expected failure with a message safe to show to the client."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    """The thing asked for does not exist."""

    status_code = 404


class Conflict(ServiceError):
    """The request collides with what is already recorded."""

    status_code = 409


class PayloadTooLarge(ServiceError):
    """The body or batch exceeds a configured limit."""

    status_code = 413


class Invalid(ServiceError):
    """The request is well-formed but its content cannot be used."""

    status_code = 422


class Unavailable(ServiceError):
    """A dependency (database, event store) is down; nothing was recorded."""

    status_code = 503
