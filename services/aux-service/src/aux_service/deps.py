"""The service-token check, the one thing every data request runs."""

from fastapi.security import APIKeyHeader

from aux_service.config import Settings
from kontaxa_common.errors import ApiError
from kontaxa_common.middleware import CredentialCheck, Scope, header_value
from kontaxa_common.secrets import (
    SERVICE_TOKEN_FILE,
    SERVICE_TOKEN_HEADER,
    SecretFiles,
    matches_any,
)

# How OpenAPI documents the check (kontaxa_common.web.require_credentials).
SERVICE_TOKEN_SCHEME = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    scheme_name="APIKeyHeader",
    auto_error=False,
    description="The service token shared with main-api.",
)
_HEADER = SERVICE_TOKEN_HEADER.lower().encode()


def service_token_check(secrets: SecretFiles, settings: Settings) -> CredentialCheck:
    """The check of the service-token header against the mounted token (main-api's credential)."""

    def check(scope: Scope) -> None:
        """Accept only callers presenting the shared service token (main-api).

        The previous token stays valid for SERVICE_TOKEN_GRACE_SECONDS after a rotation:
        the two pods' mounts rotate independently.
        """
        accepted = secrets.with_previous(SERVICE_TOKEN_FILE, settings.service_token_grace_seconds)
        if not accepted:
            raise ApiError(503, "not_ready", "aux-service has no service token loaded yet")
        if not matches_any(header_value(scope, _HEADER) or "", accepted):
            raise ApiError(
                401, "unauthenticated", f"a valid {SERVICE_TOKEN_HEADER} header is required"
            )

    return check
