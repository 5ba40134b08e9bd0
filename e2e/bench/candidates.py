"""main-api with another HTTP client for aux-service, for the benchmark's side-by-side cases.

`python candidates.py` serves main-api exactly as `python -m main_api` does (same settings,
same server), except for the one thing BENCH_CLIENT names: aiohttp, aiosonic or httpx (httpx
with its default transport) as its AuxClient's transport, or `unfrozen`: main-api's own
client, served without `gc.freeze()` after start-up (kontaxa_common.server.build_frozen), to
show what the freeze does to the tail. main-api's own client (pyreqwest,
main_api/clients/aux.py) is the runtime's main-api itself. Only the happy path is mapped
here: the benchmark reads a cached parameter, so no candidate meets a fault.
"""

import os
from typing import Any

from fastapi import FastAPI

from kontaxa_common.server import serve
from main_api.app import create_app as create_main_api
from main_api.clients.aux import Reply
from main_api.config import Settings

UNFROZEN = "unfrozen"


class Candidate:
    """A transport with AuxTransport's interface: start, close, get(path, headers, budget)."""

    version_header = "X-Aux-Service-Version"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = settings.aux_service_url.rstrip("/") + "/"
        self.client: Any = None


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


TRANSPORTS: dict[str, type[Candidate]] = {
    "aiohttp": AiohttpTransport,
    "aiosonic": AiosonicTransport,
    "httpx": HttpxTransport,
}


def title(variant: str) -> str:
    """How the report names case 6 against the copy that `variant` configures."""
    if variant == UNFROZEN:
        return "case 6 without gc.freeze() after start-up (main-api's own client)"
    return f"case 6 with {variant} as main-api's client"


def create_app() -> FastAPI:
    """main-api with the transport BENCH_CLIENT names (its own for `unfrozen`)."""
    settings = Settings()
    app = create_main_api(settings)
    variant = os.environ["BENCH_CLIENT"]
    if variant != UNFROZEN:
        app.state.aux.transport = TRANSPORTS[variant](settings)
    return app


if __name__ == "__main__":
    serve("candidates:create_app", Settings(), freeze=os.environ["BENCH_CLIENT"] != UNFROZEN)
