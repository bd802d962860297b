"""The API's error answers: the Problem body of every 4xx and 503, and the OpenAPI ``responses`` a
route declares for them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorItem(BaseModel):
    """One field at fault: where it is (``["body", "price_like"]``), what is wrong, and the error type."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx and 503 answer: a sentence, and the fields at fault when the request failed validation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "body.price_like: Input should be less than or equal to 1000000",
                    "errors": [
                        {
                            "loc": ["body", "price_like"],
                            "msg": "Input should be less than or equal to 1000000",
                            "type": "less_than_equal",
                        }
                    ],
                }
            ]
        }
    )
    detail: str
    errors: list[ErrorItem] | None = Field(
        default=None, description="fields at fault (request validation only; null otherwise)"
    )


ANSWERS: dict[int, str] = {
    400: "the body cannot be parsed",
    401: "no valid API key (missing, unknown or revoked)",
    403: "the key's role may not do this",
    404: "not found",
    409: "collides with what is already recorded",
    413: "body or batch too large",
    422: "the request cannot be used; request validation lists the fields at fault in `errors`",
    503: "a dependency (database, event store) is down; nothing was recorded",
}


def problems(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error answers: each code with the Problem body.

    ``described`` gives a route's own sentence for a code, as ``c409="..."``.
    """
    return {
        code: {"model": Problem, "description": described.get(f"c{code}", ANSWERS[code])} for code in codes
    }
