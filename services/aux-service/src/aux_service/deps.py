"""Request dependencies: the service-token check, the one thing every data request runs."""

import hmac

from fastapi import Depends
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from kontaxa_common.errors import ApiError
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SERVICE_TOKEN_HEADER, SecretFiles


class ServiceToken(APIKeyHeader):
    """The service-token header, checked against the mounted token (main-api's credential).

    A security scheme itself, so OpenAPI documents it and a request runs one dependency.
    """

    async def __call__(self, request: HTTPConnection) -> str:
        """Accept only callers presenting the shared service token (main-api)."""
        secrets: SecretFiles = request.app.state.secrets
        expected = secrets.get(SERVICE_TOKEN_FILE)
        if expected is None:
            raise ApiError(503, "not_ready", "aux-service has no service token loaded yet")
        offered = request.headers.get(SERVICE_TOKEN_HEADER)
        if offered is None or not hmac.compare_digest(offered.encode(), expected.encode()):
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
