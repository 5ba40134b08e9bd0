"""The HTTP client for aux-service: one pooled aiohttp session for the app's lifetime.

aiohttp was chosen by measurement (see docs/performance.md): on a proxy hop at
32 connections it sustained several times httpx's default transport. Nothing
outside this module knows which library is used.
"""

import asyncio
import json
import logging
import random
import time
from typing import Any
from urllib.parse import quote

import aiohttp

from kontaxa_common.errors import ApiError
from kontaxa_common.metrics import Metrics
from kontaxa_common.requestid import REQUEST_ID_HEADER, current_request_id
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SERVICE_TOKEN_HEADER, SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.config import AUX_SERVICE, Settings

logger = logging.getLogger(__name__)

# Errors raised before a request reached aux-service: safe to retry a GET.
# (A reset or an immediate hang-up on a pooled connection is one too: nothing was answered.)
_CONNECT_ERRORS = (
    aiohttp.ClientOSError,  # includes ClientConnectorError (refused, DNS) and ECONNRESET
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientConnectionResetError,
)
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
        self._session: aiohttp.ClientSession | None = None
        self._version_header = metadata.peer_header_name(AUX_SERVICE)

    async def start(self) -> None:
        """Open the connection pool."""
        connector = aiohttp.TCPConnector(
            limit=self._settings.aux_max_connections, keepalive_timeout=30, ttl_dns_cache=10
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._settings.aux_connect_timeout_seconds,
            sock_read=self._settings.aux_read_timeout_seconds,
        )
        self._session = aiohttp.ClientSession(
            base_url=self._settings.aux_service_url.rstrip("/") + "/",
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
        )

    async def close(self) -> None:
        """Close the pool (in-flight requests have finished by then)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pool_size(self) -> int:
        """Connections currently open to aux-service (for tests and diagnostics)."""
        connector = self._session.connector if self._session else None
        if connector is None:
            return 0
        # aiohttp keeps idle connections in `_conns` and busy ones in `_acquired`.
        idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
        return idle + len(getattr(connector, "_acquired", ()))

    def _auth_headers(self) -> dict[str, str]:
        token = self._secrets.get(SERVICE_TOKEN_FILE)
        if token is None:
            raise ApiError(503, "not_ready", "main-api has no service token loaded yet")
        return {SERVICE_TOKEN_HEADER: token}

    async def get(self, path: str, operation: str, *, authenticated: bool = True) -> Any:
        """GET `path` from aux-service and return its JSON body, or raise ApiError."""
        assert self._session is not None, "AuxClient.start() was not awaited"
        headers = {REQUEST_ID_HEADER: current_request_id.get()}
        if authenticated:
            headers.update(self._auth_headers())
        attempts = self._settings.aux_max_retries + 1
        started = time.perf_counter()
        outcome = "error"
        try:
            for attempt in range(attempts):
                try:
                    async with self._session.get(path, headers=headers) as response:
                        body = await response.read()
                        self._metadata.learn(
                            AUX_SERVICE, response.headers.get(self._version_header)
                        )
                        result = self._result(response.status, response.headers, body)
                        outcome = "ok"
                        return result
                except _CONNECT_ERRORS as exc:
                    if attempt + 1 == attempts:
                        outcome = "unreachable"
                        logger.warning("aux-service unreachable", extra={"error": repr(exc)})
                        raise ApiError(
                            503, "upstream_unavailable", "aux-service is unreachable"
                        ) from exc
                    # Exponential backoff with full jitter: 50 ms, 100 ms, ...
                    self._metrics.count_retry(AUX_SERVICE)
                    await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311
                except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
                    outcome = "timeout"
                    raise ApiError(
                        504, "upstream_timeout", "aux-service did not answer in time"
                    ) from exc
                except aiohttp.ClientError as exc:
                    outcome = "protocol_error"
                    logger.warning("aux-service call failed", extra={"error": repr(exc)})
                    raise ApiError(
                        502, "upstream_error", "aux-service sent an unusable reply"
                    ) from exc
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._metrics.observe_upstream(
                AUX_SERVICE, operation, outcome, time.perf_counter() - started
            )

    def _result(self, status: int, headers: Any, body: bytes) -> Any:
        if status == 200:
            try:
                return json.loads(body)
            except ValueError as exc:
                raise ApiError(502, "upstream_error", "aux-service sent invalid JSON") from exc
        if status in _PASSED_THROUGH:
            code, message = _error_fields(body)
            extra = {}
            retry_after = headers.get("Retry-After", "")
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
