"""The HTTP client for aux-service: one pool of keep-alive connections for the app's lifetime.

Chosen by measurement (docs/performance.md). httpx's default transport sustained a fraction
of aiohttp on a proxy hop at 32 connections; aiohttp's own work was then a third of
main-api's time per cached read, where a GET-only pool on httptools (clients/http.py) costs
a fifth of it. Nothing outside this module knows how requests are made.
"""

import asyncio
import json
import logging
import random
import time
from typing import Any
from urllib.parse import quote, urlsplit

from kontaxa_common.errors import ApiError
from kontaxa_common.metrics import Metrics
from kontaxa_common.requestid import REQUEST_ID_HEADER, current_request_id
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SERVICE_TOKEN_HEADER, SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.clients.http import ConnectionPool, UpstreamProtocolError, UpstreamUnreachable
from main_api.config import AUX_SERVICE, Settings

logger = logging.getLogger(__name__)

# Statuses of aux-service passed to the client as they are, with aux's own code and message.
_PASSED_THROUGH = {400, 403, 404, 429}
_MAX_MESSAGE = 300


class AuxClient:
    """Calls aux-service and turns its failures into main-api's error mapping."""

    def __init__(
        self, settings: Settings, metadata: VersionMetadata, metrics: Metrics, secrets: SecretFiles
    ) -> None:
        self._settings = settings
        self._metadata = metadata
        self._metrics = metrics
        self._secrets = secrets
        self._pool: ConnectionPool | None = None
        self._version_header = metadata.peer_header_name(AUX_SERVICE).lower()
        url = urlsplit(settings.aux_service_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"AUX_SERVICE_URL must be http://host[:port], not {url.geturl()!r}")
        self._host, self._port = url.hostname, url.port or 80
        self._host_header = url.netloc
        self._base_path = url.path.rstrip("/")

    async def start(self) -> None:
        """Open the connection pool (connections are made on demand)."""
        self._pool = ConnectionPool(
            self._host,
            self._port,
            self._settings.aux_max_connections,
            self._settings.aux_connect_timeout_seconds,
        )

    async def close(self) -> None:
        """Close the pool (in-flight requests have finished by then)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def pool_size(self) -> int:
        """Connections currently open to aux-service (for tests and diagnostics)."""
        return len(self._pool.connections) if self._pool is not None else 0

    def _request(self, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"GET {self._base_path}/{path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _auth_headers(self) -> dict[str, str]:
        token = self._secrets.get(SERVICE_TOKEN_FILE)
        if token is None:
            raise ApiError(503, "not_ready", "main-api has no service token loaded yet")
        return {SERVICE_TOKEN_HEADER: token}

    async def get(self, path: str, operation: str, *, authenticated: bool = True) -> Any:
        """GET `path` from aux-service and return its JSON body, or raise ApiError."""
        assert self._pool is not None, "AuxClient.start() was not awaited"
        headers = {REQUEST_ID_HEADER: current_request_id.get()}
        if authenticated:
            headers.update(self._auth_headers())
        request = self._request(path, headers)
        attempts = self._settings.aux_max_retries + 1
        started = time.perf_counter()
        outcome = "error"
        try:
            for attempt in range(attempts):
                try:
                    reply = await self._pool.get(request, self._settings.aux_read_timeout_seconds)
                except UpstreamUnreachable as exc:
                    # Refused, no connection in time, or closed before replying (a dying
                    # upstream, or a pooled connection it had just closed): nothing was
                    # answered, so the GET may go again.
                    if attempt + 1 == attempts:
                        outcome = "unreachable"
                        logger.warning("aux-service unreachable", extra={"error": repr(exc)})
                        raise ApiError(
                            503, "upstream_unavailable", "aux-service is unreachable"
                        ) from exc
                    # Exponential backoff with full jitter: 50 ms, 100 ms, ...
                    self._metrics.count_retry(AUX_SERVICE)
                    await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311
                    continue
                except TimeoutError as exc:
                    outcome = "timeout"
                    raise ApiError(
                        504, "upstream_timeout", "aux-service did not answer in time"
                    ) from exc
                except UpstreamProtocolError as exc:
                    outcome = "protocol_error"
                    logger.warning("aux-service call failed", extra={"error": repr(exc)})
                    raise ApiError(
                        502, "upstream_error", "aux-service sent an unusable reply"
                    ) from exc
                self._metadata.learn(AUX_SERVICE, reply.headers.get(self._version_header))
                result = self._result(reply.status, reply.headers, reply.body)
                outcome = "ok"
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._metrics.observe_upstream(
                AUX_SERVICE, operation, outcome, time.perf_counter() - started
            )

    def _result(self, status: int, headers: dict[str, str], body: bytes) -> Any:
        if status == 200:
            try:
                return json.loads(body)
            except ValueError as exc:
                raise ApiError(502, "upstream_error", "aux-service sent invalid JSON") from exc
        if status in _PASSED_THROUGH:
            code, message = _error_fields(body)
            extra = {}
            retry_after = headers.get("retry-after", "")
            if status == 429 and retry_after.isdigit():
                extra["Retry-After"] = retry_after
            return_code = code or {404: "not_found", 429: "throttled"}.get(status, "bad_request")
            raise ApiError(status, return_code, message or f"aux-service answered {status}", extra)
        if status == 401:
            raise ApiError(502, "upstream_error", "aux-service refused main-api's service token")
        raise ApiError(502, "upstream_error", f"aux-service failed with status {status}")

    async def is_reachable(self) -> bool:
        """Whether aux-service answers its liveness endpoint."""
        try:
            await self.get("health", "health", authenticated=False)
        except ApiError:
            return False
        return True

    async def version(self) -> dict[str, Any] | None:
        """aux-service's /version body, or None when it cannot be had."""
        try:
            body = await self.get("version", "version", authenticated=False)
        except ApiError:
            return None
        return body if isinstance(body, dict) else None

    async def buckets(self) -> Any:
        """aux-service's bucket list."""
        return await self.get("buckets", "list_buckets")

    async def parameters(self) -> Any:
        """aux-service's parameter list."""
        return await self.get("parameters", "list_parameters")

    async def parameter(self, name: str) -> Any:
        """One parameter, `name` already validated."""
        return await self.get("parameters/" + quote(name, safe="/"), "get_parameter")


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """aux's own error code and message, when the body is aux's envelope (never passed raw)."""
    try:
        error = json.loads(body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return None, None
    if not isinstance(code, str) or not isinstance(message, str):
        return None, None
    return code[:64], message[:_MAX_MESSAGE]
