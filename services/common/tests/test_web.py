"""require_credentials: the check runs in ASGI, the schema is FastAPI's own for the scheme.

Each test builds the same routes twice: once behind `dependencies=[Depends(scheme)]` (what
FastAPI documents and runs itself) and once behind `require_credentials`.
"""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Path
from fastapi.security import APIKeyHeader
from opentelemetry import trace
from starlette.requests import HTTPConnection

from kontaxa_common.errors import ApiError, install_error_handlers
from kontaxa_common.middleware import Scope, header_value
from kontaxa_common.settings import ServiceSettings
from kontaxa_common.web import add_routes, app_options, require_credentials
from kontaxa_e2e.servers import serve


class CountedKey(APIKeyHeader):
    """A scheme that counts how often a request runs it."""

    calls = 0

    async def __call__(self, request: HTTPConnection) -> str | None:
        CountedKey.calls += 1
        return await super().__call__(request)


SCHEME = CountedKey(name="X-Key", scheme_name="Key", auto_error=False, description="A key.")


def check(scope: Scope) -> None:
    if header_value(scope, b"x-key") != "right":
        raise ApiError(401, "unauthenticated", "a valid X-Key header is required")


def build(*dependencies: object) -> tuple[APIRouter, APIRouter]:
    """An open router and a data router, the latter with `dependencies`."""
    open_router = APIRouter(tags=["operations"])
    data_router = APIRouter(tags=["data"], dependencies=list(dependencies))  # type: ignore[arg-type]

    @open_router.get("/health")
    async def health() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @data_router.get("/items")
    async def items() -> dict[str, list[str]]:
        """Every item."""
        return {"items": ["a"]}

    @data_router.get("/items/{name:path}", responses={404: {"description": "No such item."}})
    async def item(
        name: Annotated[str, Path(description="An item.", max_length=9)],
    ) -> dict[str, str]:
        """One item."""
        return {"name": name}

    return open_router, data_router


def app_with(guarded: bool) -> FastAPI:
    app = FastAPI(title="t", version="1")
    install_error_handlers(app, dict)
    if guarded:
        open_router, data_router = build()
        require_credentials(SCHEME, check, [data_router])
    else:
        open_router, data_router = build(Depends(SCHEME))
    add_routes(app, open_router, data_router)
    return app


def test_the_schema_is_byte_for_byte_the_dependency_s() -> None:
    """FastAPI derives `security` and `securitySchemes` itself, in its own places."""
    with serve(app_with(False)) as before, serve(app_with(True)) as after:
        expected = httpx.get(before.url + "/openapi.json")
        actual = httpx.get(after.url + "/openapi.json")
    assert actual.content == expected.content
    schema = actual.json()
    assert schema["paths"]["/items/{name}"]["get"]["security"] == [{"Key": []}]
    assert "security" not in schema["paths"]["/health"]["get"]
    assert schema["components"]["securitySchemes"]["Key"]["name"] == "X-Key"


def test_no_request_runs_the_scheme() -> None:
    """The scheme is in the schema only: the check runs in its place, before the handler."""
    CountedKey.calls = 0
    with serve(app_with(True)) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/items/a", headers={"X-Key": "right"}).json() == {"name": "a"}
        refused = client.get("/items/a", headers={"X-Key": "wrong"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert client.get("/health").status_code == 200
        # Routing first: an unknown path or method answers as before, checked or not.
        assert client.get("/nothing").status_code == 404
        assert client.post("/items", headers={"X-Key": "wrong"}).status_code == 405
    assert CountedKey.calls == 0


def test_no_request_asks_opentelemetry_for_its_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's native telemetry asks the global tracer provider on every request whether
    one is configured; with the services' options, no request asks."""
    asked: list[str] = []
    provider = trace.get_tracer_provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: asked.append("?") or provider())
    counts = {}
    for name, options in (("default", {}), ("services", app_options(ServiceSettings()))):
        app = FastAPI(**options)  # type: ignore[arg-type]
        add_routes(app, *build())
        with serve(app) as server, httpx.Client(base_url=server.url) as client:
            before = len(asked)
            for _ in range(3):
                assert client.get("/health").json() == {"status": "ok"}
            counts[name] = len(asked) - before
    assert counts == {"default": 3, "services": 0}
