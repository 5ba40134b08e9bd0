"""main-api settings: field names are the environment variable names."""

from pydantic import Field

from kontaxa_common.settings import ServiceSettings

SERVICE_NAME = "main-api"
AUX_SERVICE = "aux-service"
# API key files, as the SecretProviderClass in infra/k8s/apps/main-api aliases them.
API_KEY_FILE_PREFIX = "api-key-"


class Settings(ServiceSettings):
    """Configuration of main-api."""

    aux_service_url: str = Field("http://aux-service:8080", description="Base URL of aux-service.")
    aux_connect_timeout_seconds: float = Field(1.0, gt=0, description="Connect timeout to aux.")
    aux_read_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Time for a call to aux-service, its retries included.",
    )
    aux_max_retries: int = Field(
        2, ge=0, le=5, description="Retries of an idempotent GET after a connect error."
    )
    aux_max_connections: int = Field(
        32, ge=1, description="Pooled connections to aux-service at most."
    )
    aux_max_reply_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest aux-service reply body read; a larger one is a 502 (the pod's "
        "memory limit is 256Mi).",
    )
