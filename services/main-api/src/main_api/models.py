"""main-api's response models: the shared resources with main-api's `meta`."""

from pydantic import BaseModel, Field

from kontaxa_common import models
from kontaxa_common.errors import ErrorEnvelope


class Meta(BaseModel):
    """Version metadata carried by every JSON body."""

    main_api_version: str
    aux_service_version: str | None = Field(description="Null until aux-service has answered.")
    git_sha: str
    build_time: str


class ComponentVersion(BaseModel):
    """One service's version metadata."""

    service: str
    version: str
    git_sha: str
    build_time: str


class VersionResponse(ComponentVersion):
    """main-api's version, and aux-service's when it answers."""

    aux_service: ComponentVersion | None
    meta: Meta


ErrorResponse = ErrorEnvelope[Meta]


class HealthResponse(models.HealthResponse[Meta]):
    """Liveness, with how aux-service last answered."""

    checks: dict[str, str] = Field(
        description="`aux_service`: how aux-service last answered (ok, refused, failed, "
        "unreachable, timeout, protocol_error; unknown before the first call). Informational: "
        "liveness never depends on it."
    )


ReadyResponse = models.ReadyResponse[Meta]
BucketList = models.BucketList[Meta]
ParameterList = models.ParameterList[Meta]
ParameterResponse = models.ParameterResponse[Meta]
