"""Liveness, readiness and version."""

from fastapi import APIRouter, Response

from kontaxa_common.errors import error_responses
from kontaxa_common.secrets import SecretFiles
from kontaxa_common.version import VersionMetadata
from main_api.clients.aux import AuxClient
from main_api.config import API_KEY_FILE_PREFIX, SERVICE_NAME
from main_api.models import (
    ErrorResponse,
    HealthResponse,
    ReadyResponse,
    VersionResponse,
)


def build_router(metadata: VersionMetadata, secrets: SecretFiles, aux: AuxClient) -> APIRouter:
    """The operations routes."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, object]:
        """Liveness: answers as long as the process serves requests; waits on no dependency.

        `checks.aux_service` is how aux-service last answered ("ok", "refused", "failed",
        "unreachable", "timeout", "protocol_error", or "unknown" before the first call):
        detail for people and dashboards, never a reason to fail.
        """
        return {"status": "ok", "checks": {"aux_service": aux.state}, "meta": metadata.meta()}

    @router.get(
        "/ready",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "A dependency is not ready."}},
    )
    async def ready(response: Response) -> dict[str, object]:
        """Readiness: main-api's own ability to serve (service token and API keys loaded).

        aux-service's state is not part of it: with aux-service down, main-api stays in the
        Service and answers its own 503 with version metadata, rather than every pod leaving
        it and clients getting connection errors. Each probe starts a background check of
        aux-service (for /health, the `upstream_up` metric and its alert) without waiting.
        """
        aux.probe_in_background()
        # A token counts as loaded when a request can carry it (aux.token_problem).
        ok = aux.token_problem() is None and bool(secrets.with_prefix(API_KEY_FILE_PREFIX))
        checks = {"secrets": "ok" if ok else "missing"}
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not_ready", "checks": checks, "meta": metadata.meta()}

    @router.get(
        "/version", response_model=VersionResponse, responses=error_responses(ErrorResponse, 500)
    )
    async def version() -> dict[str, object]:
        """main-api's version metadata, with aux-service's when it answers."""
        # The parsed model as it is: FastAPI's response model takes the instance without
        # validating it again (a dict of it would be).
        return {
            "service": SERVICE_NAME,
            "version": metadata.version,
            "git_sha": metadata.git_sha,
            "build_time": metadata.build_time,
            "aux_service": await aux.version(),
            "meta": metadata.meta(),
        }

    return router
