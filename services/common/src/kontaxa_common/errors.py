"""The error envelope `{"error": {...}, "meta": {...}}` and the handlers that produce it."""

import json
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from kontaxa_common.requestid import current_request_id

MetaT = TypeVar("MetaT", bound=BaseModel)
MetaFn = Callable[[], Mapping[str, str | None]]


class ErrorDetail(BaseModel):
    """What went wrong, in words a client can act on."""

    code: str
    message: str
    request_id: str


class ErrorEnvelope(BaseModel, Generic[MetaT]):
    """Body of every error response."""

    error: ErrorDetail
    meta: MetaT


class ApiError(Exception):
    """An error with its HTTP status, raised anywhere in a request and rendered as the envelope."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str, meta: Mapping[str, str | None]) -> dict[str, object]:
    """The envelope as a plain dict."""
    return {
        "error": {"code": code, "message": message, "request_id": current_request_id.get()},
        "meta": dict(meta),
    }


def error_bytes(code: str, message: str, meta: Mapping[str, str | None]) -> bytes:
    """The envelope serialised, for raw ASGI senders."""
    return json.dumps(error_body(code, message, meta)).encode()


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{location}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def install_error_handlers(app: FastAPI, meta: MetaFn) -> None:
    """Render ApiError, routing errors and validation errors as the envelope."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(
            error_body(exc.code, exc.message, meta()), status_code=exc.status, headers=exc.headers
        )

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        return JSONResponse(
            error_body(code, message, meta()),
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            error_body("bad_request", _validation_message(exc), meta()), status_code=400
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def error_responses(
    envelope: type[BaseModel], *statuses: int
) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses=` entries documenting the envelope for each status."""
    return {status: {"model": envelope} for status in statuses}
