"""Request dependencies: the service-token check, the one thing every data request runs."""

from fastapi import Depends
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from aux_service.config import Settings
from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import (
    SERVICE_TOKEN_FILE,
    SERVICE_TOKEN_HEADER,
    SecretFiles,
    matches_any,
)


class ServiceToken(APIKeyHeader):
    """The service-token header, checked against the mounted token (main-api's credential).

    A security scheme itself, so OpenAPI documents it and a request runs one dependency.
    """

    async def __call__(self, request: HTTPConnection) -> str:
        """Accept only callers presenting the shared service token (main-api).

        The previous token stays valid for SERVICE_TOKEN_GRACE_SECONDS after a rotation:
        the two pods' mounts rotate independently.
        """
        secrets: SecretFiles = request.app.state.secrets
        settings: Settings = request.app.state.settings
        accepted = secrets.with_previous(SERVICE_TOKEN_FILE, settings.service_token_grace_seconds)
        if not accepted:
            raise ApiError(503, "not_ready", "aux-service has no service token loaded yet")
        offered = request.headers.get(SERVICE_TOKEN_HEADER) or ""
        if not matches_any(offered, accepted):
            raise ApiError(
                401, "unauthenticated", f"a valid {SERVICE_TOKEN_HEADER} header is required"
            )
        return offered


ServiceAuthenticated = Depends(
    ServiceToken(
        name=SERVICE_TOKEN_HEADER,
        scheme_name="APIKeyHeader",
        auto_error=False,
        description="The service token shared with main-api.",
    )
)
