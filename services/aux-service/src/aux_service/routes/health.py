"""Liveness, readiness and version."""

import time

from fastapi import APIRouter, Request, Response

from aux_service.config import SERVICE_NAME
from aux_service.deps import AwsDep, MetadataDep, SecretsDep, SettingsDep
from aux_service.models import HealthResponse, ReadyResponse, VersionResponse
from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SERVICE_TOKEN_FILE

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthResponse)
async def health(metadata: MetadataDep) -> dict[str, object]:
    """Liveness: answers as long as the process serves requests; checks no dependency."""
    return {"status": "ok", "meta": metadata.meta()}


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "A dependency is not ready."}},
)
async def ready(
    request: Request,
    response: Response,
    aws: AwsDep,
    secrets: SecretsDep,
    settings: SettingsDep,
    metadata: MetadataDep,
) -> dict[str, object]:
    """Readiness: AWS answers (checked at most every READY_CACHE_SECONDS) and secrets loaded."""
    state = request.app.state
    now = time.monotonic()
    if now - state.aws_checked_at >= settings.ready_cache_seconds:
        try:
            await aws.ping()
            state.aws_status = "ok"
        except ApiError as exc:
            state.aws_status = exc.code
        state.aws_checked_at = now
    secrets_ok = secrets.get(SERVICE_TOKEN_FILE) is not None
    checks = {"aws": state.aws_status, "secrets": "ok" if secrets_ok else "missing"}
    ok = secrets_ok and state.aws_status == "ok"
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not_ready", "checks": checks, "meta": metadata.meta()}


@router.get("/version", response_model=VersionResponse)
async def version(metadata: MetadataDep) -> dict[str, object]:
    """aux-service's version metadata."""
    return {
        "service": SERVICE_NAME,
        "version": metadata.version,
        "git_sha": metadata.git_sha,
        "build_time": metadata.build_time,
        "meta": metadata.meta(),
    }
