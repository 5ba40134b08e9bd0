"""require_credentials: the check runs in ASGI, the schema is FastAPI's own for the scheme.

Each test builds the same routes twice: once behind `dependencies=[Depends(scheme)]` (what
FastAPI documents and runs itself) and once behind `require_credentials`.
"""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.security import APIKeyHeader
from opentelemetry import trace
from pydantic import AfterValidator
from starlette.requests import HTTPConnection

from kontaxa_common.errors import ApiError, install_error_handlers
from kontaxa_common.middleware import Scope, header_value
from kontaxa_common.settings import ServiceSettings
from kontaxa_common.web import (
    add_routes,
    app_options,
    document_path_parameters,
    require_credentials,
)
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


SOLVED: list[str] = []
CountedName = Annotated[
    str,
    Path(description="An item.", max_length=9),
    AfterValidator(lambda value: SOLVED.append(value) or value),
]


def documented_item(name: CountedName) -> None:
    """The path parameter as the schema publishes it."""


def parameter_app(documented: bool) -> FastAPI:
    """One route with a path parameter: declared on the endpoint, or documented only."""
    router = APIRouter(tags=["data"], dependencies=[] if documented else [Depends(SCHEME)])
    if documented:

        @router.get("/items/{name:path}", responses={404: {"description": "No such item."}})
        async def item(request: Request) -> dict[str, str]:
            """One item."""
            return {"name": request.path_params["name"]}

        document_path_parameters(router, item, documented_item)
        require_credentials(SCHEME, check, [router])
    else:

        @router.get("/items/{name:path}", responses={404: {"description": "No such item."}})
        async def item(name: CountedName) -> dict[str, str]:  # type: ignore[misc] # same name
            """One item."""
            return {"name": name}

    app = FastAPI(title="t", version="1")
    install_error_handlers(app, dict)
    add_routes(app, router)
    return app


def test_a_documented_path_parameter_is_in_the_schema_and_not_solved() -> None:
    """The schema is what declaring the parameter gave; requests do not run its validation."""
    with serve(parameter_app(False)) as before, serve(parameter_app(True)) as after:
        expected = httpx.get(before.url + "/openapi.json")
        actual = httpx.get(after.url + "/openapi.json")
        SOLVED.clear()
        declared = httpx.get(before.url + "/items/a/b").json()
        assert SOLVED == ["a/b"]  # FastAPI ran the parameter's validation
        SOLVED.clear()
        documented = httpx.get(after.url + "/items/a/b", headers={"X-Key": "right"}).json()
        assert SOLVED == []  # the endpoint took the string the router matched
    assert actual.content == expected.content
    (parameter,) = actual.json()["paths"]["/items/{name}"]["get"]["parameters"]
    assert (parameter["in"], parameter["schema"]["maxLength"]) == ("path", 9)
    assert declared == documented == {"name": "a/b"}


def test_only_path_parameters_of_an_endpoint_that_declares_none_can_be_documented() -> None:
    router = APIRouter()

    @router.get("/a/{name}")
    async def declares(name: str) -> None:
        """Declares its path parameter: FastAPI solves it."""

    @router.get("/b/{name}")
    async def reads(request: Request) -> None:
        """Reads its path parameter from the request."""

    def with_query(name: str, q: Annotated[str, Query()]) -> None:
        """Declares a query parameter besides the path's."""

    with pytest.raises(TypeError, match="declares path parameters"):
        document_path_parameters(router, declares, documented_item)
    with pytest.raises(TypeError, match="path parameters only"):
        document_path_parameters(router, reads, with_query)

    def nothing() -> None:
        """Leaves the path's parameter out."""

    def with_dependency(name: str, user: Annotated[str, Depends(lambda: "x")]) -> None:
        """Declares a dependency besides the path parameter."""

    with pytest.raises(TypeError, match="no dependencies"):
        document_path_parameters(router, reads, with_dependency)
    with pytest.raises(TypeError, match="exactly the path's parameters"):
        document_path_parameters(router, reads, nothing)
    with pytest.raises(ValueError, match="exactly one route"):
        document_path_parameters(APIRouter(), reads, documented_item)
