"""The HTTP client for aux-service: one pool of keep-alive connections for the app's lifetime.

The HTTP/1.1 work is pyreqwest's (reqwest and hyper, in Rust), chosen by measurement
(docs/performance.md): the fault catalogue in tests/test_client_faults.py passes (1xx
before the reply, 101, garbage after a body, close-delimited and split chunked bodies,
replies cut short, oversized heads and bodies, slow drips, a full pool) and it costs the
least CPU per call of the clients measured. This module only maps its outcomes onto
main-api's errors: a GET that got no whole answer is retried, a timeout is 504, an unusable
reply 502, aux-service's own statuses as `_result` says. Nothing outside this module knows
how requests are made.
"""

import asyncio
import contextvars
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, StringConstraints, ValidationError
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import (
    ConnectTimeoutError,
    NetworkError,
    PyreqwestError,
    RequestTimeoutError,
)

from kontaxa_common import models
from kontaxa_common.errors import ApiError
from kontaxa_common.metrics import Metrics
from kontaxa_common.requestid import REQUEST_ID_HEADER, current_request_id, new_request_id
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SERVICE_TOKEN_HEADER, SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.config import AUX_SERVICE, Settings
from main_api.models import ComponentVersion

logger = logging.getLogger(__name__)

# Statuses of aux-service passed to the client as they are, with aux's own code and message.
_PASSED_THROUGH = {400, 403, 404, 429}
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a token header can carry
_MAX_MESSAGE = 300
Shape = TypeVar("Shape", bound=BaseModel)


class UpstreamUnreachable(ConnectionError):
    """No whole reply came: refused, timed out connecting, reset, or closed before the
    reply was complete.

    Nothing usable was answered, so an idempotent GET may be sent again.
    """


class UpstreamCutShort(UpstreamUnreachable):
    """A reply's head came, then the connection closed before its body was whole.

    As when aux-service dies between writing a head and its body: the GET goes again. When
    the last try is cut short as well, aux-service is up and sending broken replies (a body
    shorter than its Content-Length): a 502, not "unreachable".
    """


class UpstreamProtocolError(Exception):
    """The reply is not usable HTTP: malformed, over a size limit, or an upgrade."""


@dataclass
class Reply:
    """A complete reply: status, the headers main-api reads, and the body."""

    status: int
    version: str | None
    retry_after: str | None
    body: bytes


# The shapes main-api reads from aux-service's bodies; anything else is an upstream fault.
class Buckets(BaseModel):
    """aux-service's /buckets body (its `meta` is its own and not read)."""

    buckets: list[models.Bucket]
    count: int


class Parameters(BaseModel):
    """aux-service's /parameters body."""

    prefix: str
    parameters: list[models.Parameter]
    count: int


class OneParameter(BaseModel):
    """aux-service's /parameters/{name} body."""

    parameter: models.Parameter


# A field of aux-service's /version body, which main-api's public /version repeats: a short
# token (a version, a commit id with -dirty, an RFC 3339 time, "unknown"), nothing larger.
_Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+:_-]{0,63}$")]


class AuxVersion(ComponentVersion):
    """aux-service's /version body (its `meta` is its own and not read): any field that is no
    short token makes it a body of an unexpected shape, never repeated to main-api's callers."""

    service: _Token
    version: _Token
    git_sha: _Token
    build_time: _Token


def _connect_failed(exc: PyreqwestError) -> bool:
    """Whether a pyreqwest timeout happened while connecting (hyper-util's `Connect` kind).

    pyreqwest 0.15 raises ConnectTimeoutError both for a connect timeout and for a request
    timeout before the reply's head; only the cause chain tells them apart. Pinned by
    tests/test_client_faults.py (a listener whose backlog is full, and a stalled upstream).
    """
    return "client error (Connect)" in _causes(exc)


# hyper's IncompleteBody (src/proto/h1/decode.rs): the connection closed before the body's
# Content-Length or the current chunk had arrived, an io::ErrorKind::UnexpectedEof, as when
# aux-service dies between writing a reply's head and its body. pyreqwest 0.15 tells
# connection errors by a list of messages of its own (src/exceptions/utils.rs,
# CONNECTION_ERROR_PATTERN) that misses this one, so it arrives as a BodyDecodeError,
# not the NetworkError an EOF in a chunk-size line or a reset is.
_CUT_SHORT = "end of file before message length reached"


def _causes(exc: PyreqwestError) -> list[str]:
    """The messages of a pyreqwest error's cause chain, outermost first."""
    causes = getattr(exc, "details", {}).get("causes") or []
    return [str(cause.get("message")) for cause in causes]


def _token_problem(token: str | None) -> str | None:
    """Why `token` cannot be sent to aux-service, or None when it can."""
    if token is None:
        return "main-api has no service token loaded yet"
    if not _HEADER_VALUE.fullmatch(token):
        # A control or non-ASCII character: no header can carry it (and aux-service could
        # not match it); a broken secret, not a fault of aux-service.
        return "main-api's service token is not a valid header value"
    return None


class AuxTransport:
    """GETs to aux-service over pyreqwest's pool, outcomes as Reply or this module's errors."""

    def __init__(self, settings: Settings, version_header: str) -> None:
        self._settings = settings
        self._version_header = version_header
        self._client: Client | None = None

    async def start(self) -> None:
        """Build the client (connections are made on demand)."""
        settings = self._settings
        read_timeout = timedelta(seconds=settings.aux_read_timeout_seconds)
        self._client = (
            ClientBuilder()
            .base_url(settings.aux_service_url.rstrip("/") + "/")
            .max_connections(settings.aux_max_connections)
            .pool_max_idle_per_host(settings.aux_max_connections)
            .connect_timeout(timedelta(seconds=settings.aux_connect_timeout_seconds))
            # Waiting for a pooled connection and for the reply share the one deadline:
            # with aux-service stalled and the pool full, every caller fails in time.
            .pool_timeout(read_timeout)
            .timeout(read_timeout)
            .follow_redirects(False)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .referer(False)
            .no_proxy()
            .user_agent("kontaxa-main-api")
            .build()
        )

    async def close(self) -> None:
        """Close the pool (in-flight requests have finished by then)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        """GET `path` within `budget` seconds (default: the read timeout);
        UpstreamUnreachable, TimeoutError or UpstreamProtocolError on failure."""
        assert self._client is not None, "AuxClient.start() was not awaited"
        limit = self._settings.aux_max_reply_bytes
        try:
            builder = self._client.get(path).headers(headers)
            if budget is not None:
                builder = builder.timeout(timedelta(seconds=budget))
            request = builder.build_streamed()
            async with request as response:
                if response.status < 200:
                    # A 101 (hyper passes 1xx other than 101 by) is no reply to a GET.
                    raise UpstreamProtocolError(f"status {response.status} to a GET")
                length = response.get_header("content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise UpstreamProtocolError(f"a body of {length} bytes is over {limit}")
                chunks: list[bytes] = []
                size = 0
                reader = response.body_reader
                while (chunk := await reader.read_chunk()) is not None:
                    size += len(chunk)
                    if size > limit:
                        raise UpstreamProtocolError(f"the body is over {limit} bytes")
                    chunks.append(bytes(chunk))
                return Reply(
                    response.status,
                    response.get_header(self._version_header),
                    response.get_header("retry-after"),
                    b"".join(chunks),
                )
        except ConnectTimeoutError as exc:
            if _connect_failed(exc):
                raise UpstreamUnreachable("no connection in time") from exc
            raise TimeoutError("no reply in time") from exc
        except RequestTimeoutError as exc:  # reading the body, or waiting for the pool
            raise TimeoutError(str(exc.message)) from exc
        except NetworkError as exc:  # refused, reset or closed before a complete reply
            raise UpstreamUnreachable(_describe(exc)) from exc
        except PyreqwestError as exc:  # a malformed or oversized reply, a body cut short
            if _CUT_SHORT in _causes(exc):
                raise UpstreamCutShort(_describe(exc)) from exc
            raise UpstreamProtocolError(_describe(exc)) from exc
        except ValueError as exc:  # a header that is not text (obs-text bytes), from get_header
            raise UpstreamProtocolError("a reply header that is not text") from exc


class AuxClient:
    """Calls aux-service and turns its failures into main-api's error mapping."""

    def __init__(
        self,
        settings: Settings,
        metadata: VersionMetadata,
        metrics: Metrics,
        secrets: SecretFiles,
        transport: AuxTransport | None = None,
    ) -> None:
        self._settings = settings
        self._metadata = metadata
        self._metrics = metrics
        self._secrets = secrets
        url = urlsplit(settings.aux_service_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"AUX_SERVICE_URL must be http://host[:port], not {url.geturl()!r}")
        # How the last call went: "ok" (aux-service answered as designed), or why it did
        # not: "refused" (the token), "failed" (a 5xx), "unreachable", "timeout",
        # "protocol_error"; "unknown" before the first call.
        self.state = "unknown"
        self._probe: asyncio.Task[bool] | None = None
        # The token last sent after a refusal of the current one (logged once per token).
        self._fallback_logged: str | None = None
        # Swappable only so the benchmark can compare other clients (e2e/bench).
        self.transport = transport or AuxTransport(settings, metadata.peer_header_name(AUX_SERVICE))

    async def start(self) -> None:
        """Open the connection pool (connections are made on demand)."""
        await self.transport.start()

    async def close(self) -> None:
        """Close the pool."""
        await self.transport.close()

    def token_problem(self) -> str | None:
        """Why main-api cannot send its service token now, or None when it can (/ready)."""
        return _token_problem(self._secrets.get(SERVICE_TOKEN_FILE))

    def _auth_headers(self) -> dict[str, str]:
        token = self._secrets.get(SERVICE_TOKEN_FILE)
        problem = _token_problem(token)
        if problem is not None:
            raise ApiError(503, "not_ready", problem)
        return {SERVICE_TOKEN_HEADER: str(token)}

    async def _with_previous_token(
        self, path: str, headers: dict[str, str], refused: Reply, budget: float
    ) -> Reply:
        """aux-service refused the token: when this pod's mount replaced it within
        SERVICE_TOKEN_GRACE_SECONDS, aux-service's mount may not have caught up (each pod's
        is polled on its own), so the GET goes once more with the other token held, within
        `budget` seconds (what is left of the call's)."""
        sent = headers[SERVICE_TOKEN_HEADER]
        tokens = self._secrets.with_previous(
            SERVICE_TOKEN_FILE, self._settings.service_token_grace_seconds
        )
        other = next((t for t in tokens if t != sent and _HEADER_VALUE.fullmatch(t)), None)
        if other is None or budget <= 0:
            return refused
        if self._fallback_logged != other:
            self._fallback_logged = other
            logger.warning(
                "aux-service refused the new service token; the previous one is sent until "
                "aux-service's mount has the new one (SERVICE_TOKEN_GRACE_SECONDS at most)"
            )
        return await self.transport.get(path, {**headers, SERVICE_TOKEN_HEADER: other}, budget)

    async def get(self, path: str, operation: str, *, authenticated: bool = True) -> bytes:
        """GET `path` from aux-service and return its 200 body, or raise ApiError.

        The read timeout bounds the whole call, its retries included: a retry gets what is
        left of it, and none is sent once it has run out.
        """
        request_id = current_request_id.get()
        if self._secrets.holds_secret(request_id):
            # A client's key in its request ID: main-api's logs redact it, aux-service's
            # would not (it knows only its own token); aux-service gets an ID of its own.
            request_id = new_request_id()
        headers = {REQUEST_ID_HEADER: request_id}
        if authenticated:
            headers.update(self._auth_headers())
        attempts = self._settings.aux_max_retries + 1
        started = time.perf_counter()
        deadline = started + self._settings.aux_read_timeout_seconds
        budget: float | None = None  # the first try's is the client's: the read timeout
        outcome = "error"
        try:
            for attempt in range(attempts):
                try:
                    reply = await self.transport.get(path, headers, budget)
                    if reply.status == 401 and authenticated:
                        left = deadline - time.perf_counter()
                        reply = await self._with_previous_token(path, headers, reply, left)
                except UpstreamUnreachable as exc:
                    # Refused, no connection in time, reset, or closed before the reply was
                    # whole (a dying upstream, or a pooled connection it had just closed):
                    # nothing usable was answered, so the GET may go again, in the time left.
                    # Exponential backoff with full jitter: 50 ms, 100 ms, ...
                    backoff = random.uniform(0, 0.05 * 2**attempt)  # noqa: S311
                    budget = deadline - time.perf_counter() - backoff
                    if attempt + 1 == attempts or budget <= 0:
                        if isinstance(exc, UpstreamCutShort):  # up, but breaking its replies
                            outcome = "protocol_error"
                            raise _unusable(exc) from exc
                        outcome = "unreachable"
                        logger.warning("aux-service unreachable", extra={"error": str(exc)})
                        raise ApiError(
                            503, "upstream_unavailable", "aux-service is unreachable"
                        ) from exc
                    self._metrics.count_retry(AUX_SERVICE)
                    await asyncio.sleep(backoff)
                    continue
                except TimeoutError as exc:
                    outcome = "timeout"
                    raise ApiError(
                        504, "upstream_timeout", "aux-service did not answer in time"
                    ) from exc
                except UpstreamProtocolError as exc:
                    outcome = "protocol_error"
                    raise _unusable(exc) from exc
                self._metadata.learn(AUX_SERVICE, reply.version)
                outcome = _outcome(reply.status)
                return self._result(reply)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._metrics.observe_upstream(
                AUX_SERVICE, operation, outcome, time.perf_counter() - started
            )
            # "error": main-api's own. A call without the token (the readiness probe,
            # /version) reaches no AWS and checks no token: it cannot clear "refused" or
            # "failed" (aux-service is up in either, so upstream_up is 1 all the same).
            blind = not authenticated and outcome == "ok" and self.state in ("refused", "failed")
            if outcome not in ("error", self.state) and not blind:
                self.state = outcome
                self._metrics.set_upstream_up(AUX_SERVICE, outcome in _ANSWERED)

    def _result(self, reply: Reply) -> bytes:
        status = reply.status
        if status == 200:
            return reply.body
        if status in _PASSED_THROUGH:
            code, message = _error_fields(reply.body)
            extra = _retry_after(reply) if status == 429 else {}
            return_code = code or {404: "not_found", 429: "throttled"}.get(status, "bad_request")
            raise ApiError(status, return_code, message or f"aux-service answered {status}", extra)
        if status == 401:
            raise ApiError(502, "upstream_error", "aux-service refused main-api's service token")
        if status == 504:  # aux-service's AWS deadline: the time ran out behind it
            raise ApiError(504, "upstream_timeout", "aux-service did not get AWS's answer in time")
        if status == 503:
            # aux-service shedding load (aws_busy, with Retry-After), AWS unavailable behind
            # it, or its token not loaded yet (not_ready): main-api's own 503, with the wait
            # it asked for; its message stays inside (it names aux-service's configuration).
            raise ApiError(
                503,
                "upstream_unavailable",
                "aux-service cannot serve this now",
                _retry_after(reply),
            )
        raise ApiError(502, "upstream_error", f"aux-service failed with status {status}")

    async def _read(
        self, path: str, operation: str, shape: type[Shape], *, authenticated: bool = True
    ) -> Shape:
        """GET `path` and parse its body as `shape`; another shape is aux-service's fault."""
        body = await self.get(path, operation, authenticated=authenticated)
        try:
            return shape.model_validate_json(body)
        except ValidationError as exc:
            logger.warning(
                "aux-service sent a body of an unexpected shape",
                extra={"operation": operation, "error": _first_problem(exc)},
            )
            raise ApiError(
                502, "upstream_error", "aux-service sent a reply of an unexpected shape"
            ) from exc

    async def is_reachable(self) -> bool:
        """Whether aux-service answers its liveness endpoint."""
        try:
            await self.get("health", "health", authenticated=False)
        except ApiError:
            return False
        return True

    def probe_in_background(self) -> None:
        """Check aux-service's liveness without waiting (at most one check at a time).

        Keeps `state` and the `upstream_up` gauge current without traffic; the caller (the
        readiness probe) never waits on aux-service.
        """
        if self._probe is None or self._probe.done():
            # Work of its own, not the request's that happened to start it: its own request
            # ID (a caller's chosen X-Request-ID would otherwise tag the probe's calls).
            context = contextvars.Context()
            context.run(current_request_id.set, new_request_id())
            self._probe = asyncio.create_task(self.is_reachable(), context=context)

    async def version(self) -> ComponentVersion | None:
        """aux-service's version, or None when it cannot be had."""
        try:
            return await self._read("version", "version", AuxVersion, authenticated=False)
        except ApiError:
            return None

    async def buckets(self) -> Buckets:
        """aux-service's bucket list."""
        return await self._read("buckets", "list_buckets", Buckets)

    async def parameters(self) -> Parameters:
        """aux-service's parameter list."""
        return await self._read("parameters", "list_parameters", Parameters)

    async def parameter(self, name: str) -> OneParameter:
        """One parameter, `name` already validated."""
        if self._secrets.holds_secret(name):
            # A key pasted into the path: aux-service's logs and AWS's (CloudTrail records
            # the name) would keep it, where main-api's redaction does not reach.
            raise ApiError(
                400, "invalid_parameter_name", "a parameter name may not contain a credential"
            )
        return await self._read(
            "parameters/" + quote(name, safe="/"), "get_parameter", OneParameter
        )


# Outcomes of a call that aux-service answered: it is up (upstream_up 1), whatever it said.
_ANSWERED = {"ok", "refused", "failed"}


def _outcome(status: int) -> str:
    """How a call that got a reply went: "ok" when aux-service answered as designed (a 200,
    or its own 400/403/404/429), "refused" when it refused the service token, else "failed"."""
    if status == 200 or status in _PASSED_THROUGH:
        return "ok"
    return "refused" if status == 401 else "failed"


def _unusable(exc: Exception) -> ApiError:
    """main-api's 502 for a reply it cannot use, logged once with what was wrong with it."""
    logger.warning("aux-service sent an unusable reply", extra={"error": str(exc)})
    return ApiError(502, "upstream_error", "aux-service sent an unusable reply")


def _retry_after(reply: Reply) -> dict[str, str]:
    """The reply's Retry-After as a header to pass on, when it is a delay in seconds (the
    only form passed on); else nothing."""
    value = reply.retry_after
    if value is not None and value.isascii() and value.isdigit():
        return {"Retry-After": value}
    return {}


def _describe(exc: PyreqwestError) -> str:
    """The innermost causes of a pyreqwest error: what hyper or the socket said."""
    return "; ".join(_causes(exc)[-2:]) or exc.message


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{location}: {error['msg']}"


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """aux's own error code and message, when the body is aux's envelope (never passed raw)."""
    try:
        error = json.loads(body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested too deep
        return None, None
    if not isinstance(code, str) or not isinstance(message, str):
        return None, None
    return code[:64], message[:_MAX_MESSAGE]
