"""Wiring shared by both apps: middleware and error handlers (metrics: server.py)."""

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypedDict, cast

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.utils import get_dependant, get_parameterless_sub_dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from fastapi.telemetry import TelemetryConfig

from kontaxa_common.errors import MetaFn, install_error_handlers
from kontaxa_common.metrics import Metrics
from kontaxa_common.middleware import CredentialCheck, CredentialGuard, ServiceMiddleware
from kontaxa_common.settings import ServiceSettings
from kontaxa_common.version import VersionMetadata


class AppOptions(TypedDict):
    """FastAPI's arguments both apps share: the interactive docs, the schema, telemetry."""

    docs_url: str | None
    redoc_url: str | None
    openapi_url: str | None
    telemetry: TelemetryConfig
    redirect_slashes: bool


# FastAPI's native OpenTelemetry asks the global tracer, meter and logger providers on every
# request whether one is configured (aux-service's /version in-process: 191 us with it, 176
# without; docs/performance.md). The services ship no OpenTelemetry SDK, so none ever is:
# their telemetry is the Prometheus metrics and the JSON access log.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def app_options(settings: ServiceSettings) -> AppOptions:
    """The interactive docs and the schema only where API_DOCS is on; no native telemetry;
    no redirect for a trailing slash (Starlette's would send any caller, unauthenticated,
    to an absolute URL built from the Host header it sent: 404 instead)."""
    docs = settings.api_docs
    return {
        "docs_url": "/docs" if docs else None,
        "redoc_url": "/redoc" if docs else None,
        "openapi_url": "/openapi.json" if docs else None,
        "telemetry": NO_NATIVE_TELEMETRY,
        "redirect_slashes": False,
    }


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

    It is also the one way to add routes that `require_credentials` guards or
    `document_path_parameters` documents: `include_router` rebuilds each route's handler and
    dependant from its endpoint (FastAPI 0.165, `_EffectiveRouteContext`), which would skip
    the credential check and drop the documented parameters. Both services' snapshot tests
    (tests/test_auth_unchanged.py) would fail on either.
    """
    routes = [route for router in routers for route in router.routes]
    app.router.routes[:0] = routes


def require_credentials(
    scheme: SecurityBase, check: CredentialCheck, routers: Iterable[APIRouter]
) -> None:
    """Guard every route of `routers` with `check`, documented in OpenAPI as `scheme`.

    The check runs in the ASGI layer (`CredentialGuard`) rather than as a FastAPI
    dependency, whose solving cost a cached read about a fifth of its time. The schema is
    still FastAPI's own: a route's request handler is built from its dependant when the
    route is made, and from then on `route.dependant` serves only the schema, so it is
    replaced by one that also names `scheme` first, as `dependencies=[Depends(scheme)]` on
    the router would have. FastAPI thus derives each operation's `security` and the
    `securitySchemes` component itself, and `/openapi.json` (so `/docs`) is byte for byte
    what the dependency gave (both services' tests/test_auth_unchanged.py), while no
    request runs the scheme (services/common/tests/test_web.py).
    """
    # Every scheme FastAPI ships is callable (its request-time check), SecurityBase is not.
    documented = Depends(cast(Callable[..., object], scheme))
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"{route!r} is not an API route: its credentials are not checked")
            route.app = CredentialGuard(route.app, check)
            schema_only = get_parameterless_sub_dependant(
                depends=documented, path=route.path_format
            )
            route.dependant = replace(
                route.dependant, dependencies=[schema_only, *route.dependant.dependencies]
            )


def document_path_parameters(
    router: APIRouter, endpoint: Callable[..., object], documented: Callable[..., object]
) -> None:
    """Publish `documented`'s parameters as the path parameters of `endpoint`'s route, which
    reads them itself from `request.path_params` (the strings the router matched).

    FastAPI solves a route's declared parameters on every request, validating each through
    pydantic: for one `str` path parameter that was about a tenth of a cached read's time in
    the app (docs/performance.md). The route is built from `endpoint`, which declares only
    the request, so its request handler solves nothing; then, as in `require_credentials`,
    `route.dependant` (from then on read by the schema alone) gets the path parameters
    `documented` declares, and `/openapi.json` is byte for byte what declaring them on the
    endpoint gave (services' tests/test_auth_unchanged.py; services/common/tests/test_web.py).
    The endpoint must validate the values itself, as the services' name rule does.
    """
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint]
    if len(routes) != 1:
        raise ValueError(f"{endpoint.__name__} is not the endpoint of exactly one route")
    route = routes[0]
    declared = get_dependant(path=route.path_format, call=documented)
    if (
        declared.query_params
        or declared.header_params
        or declared.cookie_params
        or declared.body_params
    ):
        raise TypeError(f"{documented.__name__} may declare path parameters only")
    if declared.dependencies:
        raise TypeError(f"{documented.__name__} may declare no dependencies")
    if {field.name for field in declared.path_params} != set(route.param_convertors):
        raise TypeError(f"{documented.__name__} must declare exactly the path's parameters")
    if route.dependant.path_params:
        raise TypeError(f"{endpoint.__name__} declares path parameters: FastAPI would solve them")
    route.dependant = replace(route.dependant, path_params=declared.path_params)
