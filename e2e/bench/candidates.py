"""main-api with another HTTP client for aux-service, for the benchmark's side-by-side cases.

`python candidates.py` serves main-api exactly as `python -m main_api` does (same settings,
same server), except for the one thing BENCH_CLIENT names: aiohttp, aiosonic or httpx (httpx
with its default transport) as its AuxClient's transport, or pyqwest or rnet (not installed
with the project: `uv run --with` adds them for a selection run, docs/performance.md);
`replaced`: the GET-only pool on httptools that pyreqwest replaced (issue 15), read from git
history as it was at REPLACED_AT, so the cost of the replacement stays measured without the
project keeping the client it retired (a clone without that history skips the case); or
`unfrozen`: main-api's own client, served without `gc.freeze()` after start-up
(kontaxa_common.server.build_frozen), to show what the freeze does to the tail; or `normal`:
main-api's own client, its threads under the default CPU scheduling policy instead of
SCHED_BATCH (CPU_BATCH_SCHEDULING, kontaxa_common.server.schedule_in_batches), to show what the
policy does to case 6. main-api's own client (pyreqwest, main_api/clients/aux.py) is the
runtime's main-api itself. Only the happy path is mapped here: the benchmark reads a cached
parameter, so no candidate meets a fault.
"""

import asyncio
import os
import subprocess
import types
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import FastAPI

from kontaxa_common.server import serve
from main_api.app import create_app as create_main_api
from main_api.clients.aux import Reply
from main_api.config import Settings

UNFROZEN = "unfrozen"
NORMAL = "normal"
OWN_CLIENT = (UNFROZEN, NORMAL)  # copies serving main-api's own client, served apart
REPLACED = "replaced"
# The commit before pyreqwest replaced the hand-written client, and where that client was.
REPLACED_AT = "19b8638^"
REPLACED_PATH = "services/main-api/src/main_api/clients/http.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def replaced_source() -> str | None:
    """The replaced client's source from git history, or None where this clone lacks it."""
    result = subprocess.run(
        ["git", "show", f"{REPLACED_AT}:{REPLACED_PATH}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


class Candidate:
    """A transport with AuxTransport's interface: start, close, get(path, headers, budget)."""

    version_header = "X-Aux-Service-Version"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = settings.aux_service_url.rstrip("/") + "/"
        self.client: Any = None

    @staticmethod
    async def within(call: Awaitable[T], budget: float | None) -> T:
        """`call`'s result, within `budget` seconds when one is given (for clients whose
        requests take no timeout of their own)."""
        return await (call if budget is None else asyncio.wait_for(call, budget))


class AiohttpTransport(Candidate):
    """aiohttp's ClientSession with a TCPConnector of the same pool size."""

    async def start(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.settings.aux_max_connections)
        timeout = aiohttp.ClientTimeout(
            total=self.settings.aux_read_timeout_seconds,
            connect=self.settings.aux_connect_timeout_seconds,
        )
        self.client = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self) -> None:
        await self.client.close()

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        import aiohttp

        per_request = None if budget is None else aiohttp.ClientTimeout(total=budget)
        async with self.client.get(
            self.base + path, headers=headers, timeout=per_request
        ) as response:
            body = await response.read()
            return Reply(
                response.status,
                response.headers.get(self.version_header),
                response.headers.get("Retry-After"),
                body,
            )


class AiosonicTransport(Candidate):
    """aiosonic's HTTPClient with a pool of the same size."""

    async def start(self) -> None:
        import aiosonic
        from aiosonic.pools import PoolConfig

        connector = aiosonic.TCPConnector(
            pool_configs={":default": PoolConfig(size=self.settings.aux_max_connections)},
            timeouts=aiosonic.Timeouts(
                sock_connect=self.settings.aux_connect_timeout_seconds,
                request_timeout=self.settings.aux_read_timeout_seconds,
            ),
        )
        self.client = aiosonic.HTTPClient(connector=connector)

    async def close(self) -> None:
        await self.client.connector.cleanup()

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        import aiosonic

        per_request = None if budget is None else aiosonic.Timeouts(request_timeout=budget)
        response = await self.client.get(self.base + path, headers=headers, timeouts=per_request)
        body = await response.content()
        return Reply(
            response.status_code,
            response.headers.get(self.version_header),
            response.headers.get("Retry-After"),
            body,
        )


class HttpxTransport(Candidate):
    """httpx.AsyncClient with its default transport (httpcore) and the same limits."""

    async def start(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=self.settings.aux_max_connections),
            timeout=httpx.Timeout(
                self.settings.aux_read_timeout_seconds,
                connect=self.settings.aux_connect_timeout_seconds,
            ),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        import httpx

        per_request = httpx.USE_CLIENT_DEFAULT if budget is None else budget
        response = await self.client.get(self.base + path, headers=headers, timeout=per_request)
        return Reply(
            response.status_code,
            response.headers.get(self.version_header),
            response.headers.get("Retry-After"),
            response.content,
        )


class PyqwestTransport(Candidate):
    """pyqwest (reqwest and hyper, in Rust, like pyreqwest) with the same pool and timeouts;
    its OpenTelemetry and decompression off, as main-api's own client has them. Not installed
    with the project: a selection run adds it (docs/performance.md, point 7)."""

    async def start(self) -> None:
        import pyqwest  # type: ignore[import-not-found,unused-ignore]

        transport = pyqwest.HTTPTransport(
            timeout=self.settings.aux_read_timeout_seconds,
            connect_timeout=self.settings.aux_connect_timeout_seconds,
            max_connections_per_address=self.settings.aux_max_connections,
            pool_max_idle_per_host=self.settings.aux_max_connections,
            enable_gzip=False,
            enable_brotli=False,
            enable_zstd=False,
            follow_redirects=False,
            enable_otel=False,
        )
        self.client = pyqwest.Client(transport)

    async def close(self) -> None:
        self.client = None

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        response = await self.within(self.client.get(self.base + path, headers), budget)
        return Reply(
            response.status,
            response.headers.get(self.version_header),
            response.headers.get("Retry-After"),
            response.content,
        )


class RnetTransport(Candidate):
    """rnet (wreq and hyper, in Rust) with the same pool and timeouts (whole seconds: its
    API's unit). Not installed with the project: a selection run adds it."""

    async def start(self) -> None:
        import rnet  # type: ignore[import-not-found,unused-ignore]

        self.client = rnet.Client(
            timeout=max(1, round(self.settings.aux_read_timeout_seconds)),
            connect_timeout=max(1, round(self.settings.aux_connect_timeout_seconds)),
            pool_max_size=self.settings.aux_max_connections,
            pool_max_idle_per_host=self.settings.aux_max_connections,
            allow_redirects=False,
        )

    async def close(self) -> None:
        self.client = None

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        return await self.within(self._get(path, headers), budget)

    async def _get(self, path: str, headers: dict[str, str]) -> Reply:
        response = await self.client.get(self.base + path, headers=headers)
        version = response.headers.get(self.version_header)
        retry_after = response.headers.get("Retry-After")
        return Reply(
            response.status,
            None if version is None else bytes(version).decode("latin-1"),
            None if retry_after is None else bytes(retry_after).decode("latin-1"),
            await response.bytes(),
        )


class ReplacedTransport(Candidate):
    """The replaced client's ConnectionPool, driven as its AuxClient drove it: the request
    written as bytes, the reply's headers looked up by lower-case name."""

    async def start(self) -> None:
        source = replaced_source()
        if source is None:
            raise RuntimeError(f"{REPLACED_PATH} at {REPLACED_AT} is not in this clone's history")
        module = types.ModuleType("replaced_http")
        exec(compile(source, f"{REPLACED_AT}:{REPLACED_PATH}", "exec"), module.__dict__)  # noqa: S102
        url = urlsplit(self.settings.aux_service_url)
        self.host_header = url.netloc
        self.client = module.ConnectionPool(
            url.hostname,
            url.port or 80,
            self.settings.aux_max_connections,
            self.settings.aux_connect_timeout_seconds,
        )

    async def close(self) -> None:
        self.client.close()

    async def get(self, path: str, headers: dict[str, str], budget: float | None = None) -> Reply:
        lines = [f"GET /{path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        timeout = self.settings.aux_read_timeout_seconds if budget is None else budget
        reply = await self.client.get(request, timeout)
        return Reply(
            reply.status,
            reply.headers.get(self.version_header.lower()),
            reply.headers.get("retry-after"),
            reply.body,
        )


TRANSPORTS: dict[str, type[Candidate]] = {
    "aiohttp": AiohttpTransport,
    "aiosonic": AiosonicTransport,
    "httpx": HttpxTransport,
    "pyqwest": PyqwestTransport,
    "rnet": RnetTransport,
    REPLACED: ReplacedTransport,
}


def title(variant: str) -> str:
    """How the report names case 6 against the copy that `variant` configures."""
    if variant == UNFROZEN:
        return "case 6 without gc.freeze() after start-up (main-api's own client)"
    if variant == NORMAL:
        return "case 6 under the default CPU scheduling policy (main-api's own client)"
    if variant == REPLACED:
        return "case 6 with the replaced hand-written client (httptools, at 19b8638^)"
    return f"case 6 with {variant} as main-api's client"


def create_app() -> FastAPI:
    """main-api with the transport BENCH_CLIENT names (its own for `unfrozen` and `normal`)."""
    settings = Settings()
    app = create_main_api(settings)
    variant = os.environ["BENCH_CLIENT"]
    if variant not in OWN_CLIENT:
        app.state.aux.transport = TRANSPORTS[variant](settings)
    return app


if __name__ == "__main__":
    variant = os.environ["BENCH_CLIENT"]
    serve(
        "candidates:create_app",
        Settings(cpu_batch_scheduling=variant != NORMAL),
        freeze=variant != UNFROZEN,
    )
