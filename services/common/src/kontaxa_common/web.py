"""Wiring shared by both apps: middleware and error handlers (metrics: server.py)."""

from collections.abc import Iterable
from typing import Any, TypedDict

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from kontaxa_common.errors import MetaFn, install_error_handlers
from kontaxa_common.metrics import Metrics
from kontaxa_common.middleware import CredentialCheck, CredentialGuard, ServiceMiddleware
from kontaxa_common.settings import ServiceSettings
from kontaxa_common.version import VersionMetadata


class DocsRoutes(TypedDict):
    """FastAPI's arguments for the interactive docs and the schema."""

    docs_url: str | None
    redoc_url: str | None
    openapi_url: str | None


def docs_routes(settings: ServiceSettings) -> DocsRoutes:
    """The interactive docs and the schema, only where API_DOCS is on."""
    if settings.api_docs:
        return {"docs_url": "/docs", "redoc_url": "/redoc", "openapi_url": "/openapi.json"}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


def install_common(
    app: FastAPI, *, metadata: VersionMetadata, metrics: Metrics, meta: MetaFn
) -> None:
    """Add the service middleware and the error envelope handlers.

    The metrics are not a route of the app: `kontaxa_common.server.metrics_listener` serves
    them on METRICS_PORT, which the Services (and so the Ingress) do not expose.
    """
    install_error_handlers(app, meta)
    app.add_middleware(ServiceMiddleware, metadata=metadata, metrics=metrics, meta=meta)


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routes of `routers` to the app's own router, flat.

    `include_router` keeps each router as a nested route that every request walks through
    again (FastAPI 0.16x), which cost a cached read a sixth of its time; a router's routes
    already carry its prefix, tags, responses and dependencies, so adding them directly
    makes the same app with a flat dispatch. They go before the docs routes
    (no path overlaps), so the endpoints that carry the traffic are matched first.
    """
    routes = [route for router in routers for route in router.routes]
    app.router.routes[:0] = routes


def require_credentials(
    app: FastAPI, scheme: SecurityBase, check: CredentialCheck, routers: Iterable[APIRouter]
) -> None:
    """Guard every route of `routers` with `check`, documented in OpenAPI as `scheme`.

    The check runs in the ASGI layer (`CredentialGuard`) rather than as a FastAPI
    dependency; the schema declares what FastAPI would have derived from the dependency
    (the operation's `security` and the scheme under `components.securitySchemes`), so
    `/openapi.json` and `/docs` are unchanged (aux-service's tests compare them).
    """
    requirement: list[dict[str, list[str]]] = [{scheme.scheme_name: []}]
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"{route!r} is not an API route: its credentials are not checked")
            route.app = CredentialGuard(route.app, check)
            route.openapi_extra = {**(route.openapi_extra or {}), "security": requirement}
    definition = jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            # Where FastAPI's OpenAPI model puts it: after `schemas` (the operations'
            # `security` went through `openapi_extra`, so the model placed it already).
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[
                scheme.scheme_name
            ] = definition
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign] # FastAPI's way to extend the schema
