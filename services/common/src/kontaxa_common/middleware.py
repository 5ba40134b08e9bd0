"""One pure-ASGI middleware for the hot path: request ID, version headers, metrics, access log.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a
stream per request.
"""

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kontaxa_common.errors import MetaFn, error_bytes
from kontaxa_common.logs import AccessLog
from kontaxa_common.metrics import Metrics
from kontaxa_common.requestid import current_request_id, is_valid_request_id, new_request_id
from kontaxa_common.version import VersionMetadata

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)
_REQUEST_ID = b"x-request-id"
_JSON = (b"content-type", b"application/json")
# uvicorn's httptools parser accepts headers of any size: larger (in total) or more than
# this is refused with 431, as nginx and Node do at 8 to 16 KiB.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100


CredentialCheck = Callable[[Scope], None]


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case) in `scope`, as Starlette's `Headers.get`."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class CredentialGuard:
    """Runs a credential check in front of one route's handler, in ASGI.

    In place of a FastAPI security dependency, whose solving cost a cached read about a
    fifth of its time (docs/performance.md). It wraps the route's own ASGI app, so it runs
    after routing has matched path and method (404 and 405 stay as they were) and before
    FastAPI's handler; the check raises ApiError, which the app's exception handler renders
    exactly as it rendered the dependency's.
    """

    def __init__(self, app: ASGIApp, check: CredentialCheck) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.check(scope)
        await self.app(scope, receive, send)


class ServiceMiddleware:
    """Wraps a service app: every response gets the request ID and version headers."""

    def __init__(
        self, app: ASGIApp, *, metadata: VersionMetadata, metrics: Metrics, meta: MetaFn
    ) -> None:
        self.app = app
        self.metadata = metadata
        self.metrics = metrics
        self.meta = meta
        self.access_log = AccessLog(metadata.service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = None
        header_bytes = 0
        for key, value in scope["headers"]:
            header_bytes += len(key) + len(value)
            if key == _REQUEST_ID:
                supplied = value.decode("latin-1")
        too_large = header_bytes > MAX_HEADER_BYTES or len(scope["headers"]) > MAX_HEADER_FIELDS
        valid = not too_large and (supplied is None or is_valid_request_id(supplied))
        request_id = supplied if valid and supplied is not None else new_request_id()
        token = current_request_id.set(request_id)
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", ()))
                headers.append((_REQUEST_ID, request_id.encode()))
                headers.extend(self.metadata.header_items())
                message["headers"] = headers
            await send(message)

        try:
            if too_large:
                await self._send_error(
                    send_with_headers,
                    431,
                    "request_headers_too_large",
                    f"request headers may hold at most {MAX_HEADER_BYTES} bytes "
                    f"in {MAX_HEADER_FIELDS} fields",
                )
            elif not valid:
                await self._send_error(
                    send_with_headers,
                    400,
                    "bad_request",
                    "X-Request-ID may hold only letters, digits and . _ : - (at most 128)",
                )
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if not response_started:
                await self._send_error(
                    send_with_headers, 500, "internal_error", "internal error; see the service log"
                )
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            self.access_log.write(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                }
            )
            current_request_id.reset(token)

    async def _send_error(self, send: Send, status: int, code: str, message: str) -> None:
        body = error_bytes(code, message, self.meta())
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
