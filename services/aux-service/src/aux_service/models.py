"""aux-service's response models: the shared resources with aux-service's `meta`."""

from pydantic import BaseModel

from kontaxa_common import models
from kontaxa_common.errors import ErrorEnvelope


class Meta(BaseModel):
    """Version metadata carried by every JSON body."""

    aux_service_version: str
    git_sha: str
    build_time: str


class VersionResponse(BaseModel):
    """aux-service's version metadata."""

    service: str
    version: str
    git_sha: str
    build_time: str
    meta: Meta


ErrorResponse = ErrorEnvelope[Meta]
HealthResponse = models.HealthResponse[Meta]
ReadyResponse = models.ReadyResponse[Meta]
BucketList = models.BucketList[Meta]
ParameterList = models.ParameterList[Meta]
ParameterResponse = models.ParameterResponse[Meta]
