"""aux-service settings: field names are the environment variable names."""

from pydantic import Field, field_validator

from kontaxa_common.parameters import validate_prefix
from kontaxa_common.settings import ServiceSettings

SERVICE_NAME = "aux-service"


class Settings(ServiceSettings):
    """Configuration of aux-service."""

    aws_region: str = Field("us-east-1", description="AWS region of S3 and SSM.")
    aws_endpoint_url: str | None = Field(
        None, description="Endpoint override for an emulator (moto, LocalStack); unset on AWS."
    )
    aws_connect_timeout_seconds: float = Field(0.5, gt=0, description="Connect timeout to AWS.")
    aws_read_timeout_seconds: float = Field(1.4, gt=0, description="Read timeout for AWS replies.")
    aws_max_attempts: int = Field(
        2, ge=1, le=5, description="Attempts per AWS call, first included (botocore standard mode)."
    )
    aws_deadline_seconds: float = Field(
        4.0,
        gt=0,
        description="Time for the AWS work of one request at most (every page and attempt), "
        "then 504; below main-api's AUX_READ_TIMEOUT_SECONDS, so main-api reads this answer "
        "instead of timing out first.",
    )
    parameter_prefix: str = Field(
        "/kontaxa/app",
        pattern=r"^/[A-Za-z0-9_.\-/]*$",
        description="SSM path served (at most 100 characters and 5 levels).",
    )
    parameter_cache_ttl_seconds: float = Field(
        30.0, ge=0, description="Lifetime of cached parameter reads; 0 disables the cache."
    )
    parameter_cache_max_entries: int = Field(1024, ge=1, description="Cached names at most.")
    parameter_missing_ttl_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a name SSM said does not exist is answered 404 without asking "
        "again (each miss is otherwise one GetParameter, against the account's shared rate); "
        "0 asks every time (as does a PARAMETER_CACHE_TTL_SECONDS of 0). A parameter created "
        "meanwhile is seen after it at most.",
    )
    ready_cache_seconds: float = Field(
        5.0, ge=0, description="How long a readiness check of AWS is reused."
    )

    @field_validator("parameter_prefix")
    @classmethod
    def _prefix_leaves_room(cls, prefix: str) -> str:
        """Every valid relative name must fit under the prefix (kontaxa_common.parameters)."""
        return validate_prefix(prefix)
