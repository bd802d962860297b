"""POST /v1/events: a JSON batch or an uploaded Parquet/CSV file."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from serving.api.deps import BillingKey, ConfigDep, IngestDep
from serving.errors import Invalid, PayloadTooLarge
from serving.schemas import EventsBatch, IngestOut, problems

router = APIRouter(prefix="/v1", tags=["events"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/EventsBatch"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.post(
    "/events",
    openapi_extra=_BODY,
    responses=problems(
        400, 401, 403, 409, 413, 422, 503, c409="another ingest of the same events is in progress; retry"
    ),
)
async def post_events(
    request: Request, principal: BillingKey, config: ConfigDep, ingest: IngestDep
) -> IngestOut:
    """Ingest events: accepted, duplicates (counted once) and rejected rows with row, field and reason.

    Send ``{"events": [...]}`` as JSON, or a ``.parquet``/``.csv`` file as the multipart field ``file``.
    Re-sending the same events changes nothing.
    """
    limit = config.max_body_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_part_size=limit) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Invalid("file: send the events file as the multipart field 'file'")
            data = await upload.read(limit + 1)
            if len(data) > limit:
                raise PayloadTooLarge(f"file is larger than {limit} bytes")
            name = upload.filename or "upload"
        return await run_in_threadpool(ingest.ingest_file, filename=name, data=data, actor=principal)
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    try:
        batch = EventsBatch.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_input=False)) from None
    rows = [event.model_dump() for event in batch.events]
    return await run_in_threadpool(ingest.ingest_rows, rows, actor=principal)
