"""Response models shared by both services; each service supplies its own `meta` model."""

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

MetaT = TypeVar("MetaT", bound=BaseModel)

ParameterType = Literal["String", "StringList", "SecureString"]


class Bucket(BaseModel):
    """An S3 bucket."""

    name: str
    created: datetime | None = None


class Parameter(BaseModel):
    """An SSM parameter; the value of a SecureString is never returned."""

    name: str = Field(description="Name relative to the service's parameter prefix.")
    full_name: str = Field(description="The full SSM name.")
    type: ParameterType
    version: int
    secure: bool = Field(description="True for SecureString: `value` is then null.")
    value: str | None = Field(description="The value; null for SecureString.")
    last_modified: datetime | None = None


class HealthResponse(BaseModel, Generic[MetaT]):
    """Liveness: the process serves requests."""

    status: Literal["ok"]
    meta: MetaT


class ReadyResponse(BaseModel, Generic[MetaT]):
    """Readiness: each dependency check and its result."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    meta: MetaT


class BucketList(BaseModel, Generic[MetaT]):
    """The buckets the service's credentials can list."""

    buckets: list[Bucket]
    count: int
    meta: MetaT


class ParameterList(BaseModel, Generic[MetaT]):
    """Every parameter under the prefix, recursively."""

    prefix: str
    parameters: list[Parameter]
    count: int
    meta: MetaT


class ParameterResponse(BaseModel, Generic[MetaT]):
    """One parameter."""

    parameter: Parameter
    meta: MetaT
