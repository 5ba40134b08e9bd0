"""Provider settings: field names are the environment variable names (case-insensitive)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The driver finds a provider at <provider dir>/<provider name>.sock; registering as
# "aws" is what lets the EKS SecretProviderClass (provider: aws) work unchanged.
DEFAULT_PROVIDER_DIR = Path("/var/run/secrets-store-csi-providers")
DEFAULT_PROVIDER_NAME = "aws"


class Settings(BaseSettings):
    """Configuration of the gRPC provider (the library takes its inputs as arguments)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    provider_dir: Path = Field(
        DEFAULT_PROVIDER_DIR, description="Directory the driver looks for provider sockets in."
    )
    provider_name: str = Field(
        DEFAULT_PROVIDER_NAME,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Provider name: the socket is <provider_dir>/<provider_name>.sock.",
    )
    aws_region: str = Field(
        "us-east-1", min_length=1, description="Region of a SecretProviderClass with no `region`."
    )
    aws_endpoint_url: str | None = Field(
        None, description="Secrets Manager / SSM endpoint (the emulator); None: AWS's own."
    )
    max_workers: int = Field(4, ge=1, le=64, description="Mount requests served at once.")
    shutdown_grace_seconds: float = Field(
        5.0, ge=0, description="Time in-flight mounts get to finish after SIGTERM."
    )
    log_level: str = Field("INFO", description="Python log level.")

    @property
    def socket_path(self) -> Path:
        """The unix socket the driver dials."""
        return self.provider_dir / f"{self.provider_name}.sock"
