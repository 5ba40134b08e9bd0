"""Request dependencies as `Annotated` aliases."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from aux_service.aws import AwsGateway
from aux_service.cache import SingleFlightCache
from aux_service.config import Settings
from kontaxa_common.errors import ApiError
from kontaxa_common.models import Parameter
from kontaxa_common.secrets import SERVICE_TOKEN_FILE, SERVICE_TOKEN_HEADER, SecretFiles
from kontaxa_common.version import VersionMetadata

_token_header = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    auto_error=False,
    description="The service token shared with main-api.",
)


def get_aws(request: Request) -> AwsGateway:
    """The app's AWS gateway."""
    aws: AwsGateway = request.app.state.aws
    return aws


def get_cache(request: Request) -> SingleFlightCache[Parameter | list[Parameter]]:
    """The app's parameter cache."""
    cache: SingleFlightCache[Parameter | list[Parameter]] = request.app.state.parameter_cache
    return cache


def get_metadata(request: Request) -> VersionMetadata:
    """The app's version metadata."""
    metadata: VersionMetadata = request.app.state.metadata
    return metadata


def get_secrets(request: Request) -> SecretFiles:
    """The app's secret files."""
    secrets: SecretFiles = request.app.state.secrets
    return secrets


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def require_service_token(
    request: Request, offered: Annotated[str | None, Depends(_token_header)]
) -> None:
    """Accept only callers presenting the shared service token (main-api)."""
    expected = get_secrets(request).get(SERVICE_TOKEN_FILE)
    if expected is None:
        raise ApiError(503, "not_ready", "aux-service has no service token loaded yet")
    if offered is None or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise ApiError(401, "unauthenticated", f"a valid {SERVICE_TOKEN_HEADER} header is required")


AwsDep = Annotated[AwsGateway, Depends(get_aws)]
CacheDep = Annotated[SingleFlightCache[Parameter | list[Parameter]], Depends(get_cache)]
MetadataDep = Annotated[VersionMetadata, Depends(get_metadata)]
SecretsDep = Annotated[SecretFiles, Depends(get_secrets)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceAuthenticated = Depends(require_service_token)
