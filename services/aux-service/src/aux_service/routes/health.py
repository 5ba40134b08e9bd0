"""Liveness, readiness and version."""

import asyncio
import time

from fastapi import APIRouter, Response

from aux_service.aws import BUSY, AwsGateway
from aux_service.config import SERVICE_NAME, Settings
from aux_service.models import HealthResponse, ReadyResponse, VersionResponse
from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SecretFiles
from kontaxa_common.version import VersionMetadata


class AwsCheck:
    """The last readiness check of AWS, reused for READY_CACHE_SECONDS; one at a time (40
    probes at once each began a check of their own before the first one had ended: 10 AWS
    calls, taking AWS slots from the requests)."""

    def __init__(self, aws: AwsGateway, reuse_seconds: float) -> None:
        self._aws = aws
        self._reuse_seconds = reuse_seconds
        self.status = "unchecked"
        self._checked_at = float("-inf")
        self._checking = asyncio.Lock()

    def _due(self) -> bool:
        return time.monotonic() - self._checked_at >= self._reuse_seconds

    async def current(self) -> str:
        """ "ok", or the error code of the last failed check."""
        if self._due():
            async with self._checking:  # a check in flight: its result, when it ends
                if self._due():
                    await self._check()
        return self.status

    async def _check(self) -> None:
        now = time.monotonic()
        try:
            await self._aws.ping()
            self.status = "ok"
        except ApiError as exc:
            if exc.code == BUSY:
                # Busy, not broken: the calls in flight say nothing of AWS's health, and
                # every pod leaving the Service under load would make it worse.
                return
            self.status = exc.code
        self._checked_at = now


# What the AWS check may say of a pod that serves: AWS answered. Throttled is an answer:
# the pod serves its cache and passes the 429 with Retry-After on. SSM's quota is the
# account's and region's, shared by every pod, so failing readiness on it would take every
# aux-service pod out of the Service at once, and main-api would answer 503 unreachable.
SERVING = {"ok", "throttled"}


def build_router(
    settings: Settings, metadata: VersionMetadata, secrets: SecretFiles, aws: AwsGateway
) -> APIRouter:
    """The operations routes."""
    router = APIRouter(tags=["operations"])
    aws_check = AwsCheck(aws, settings.ready_cache_seconds)

    @router.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, object]:
        """Liveness: answers as long as the process serves requests; checks no dependency."""
        return {"status": "ok", "meta": metadata.meta()}

    @router.get(
        "/ready",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "A dependency is not ready."}},
    )
    async def ready(response: Response) -> dict[str, object]:
        """Readiness: AWS answers (checked at most every READY_CACHE_SECONDS) and secrets loaded."""
        aws_status = await aws_check.current()
        secrets_ok = secrets.get(SERVICE_TOKEN_FILE) is not None
        checks = {"aws": aws_status, "secrets": "ok" if secrets_ok else "missing"}
        ok = secrets_ok and aws_status in SERVING
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not_ready", "checks": checks, "meta": metadata.meta()}

    @router.get("/version", response_model=VersionResponse)
    async def version() -> dict[str, object]:
        """aux-service's version metadata."""
        return {
            "service": SERVICE_NAME,
            "version": metadata.version,
            "git_sha": metadata.git_sha,
            "build_time": metadata.build_time,
            "meta": metadata.meta(),
        }

    return router
