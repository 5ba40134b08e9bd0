"""Settings every Kontaxa service reads; each service extends this class.

Field names are the environment variable names (case-insensitive), set by the
service's ConfigMap and Deployment in `infra/k8s/apps/<service>`.
"""

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Version metadata, server and secrets settings common to both services."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    app_version: str = Field("0.0.0-dev", description="Version of this service (ConfigMap).")
    git_sha: str = Field("unknown", description="Git commit the image was built from.")
    build_time: str = Field("unknown", description="Build timestamp, RFC 3339.")
    host: str = Field("0.0.0.0", description="Address uvicorn binds to.")  # noqa: S104 - containers
    port: int = Field(8080, ge=1, le=65535, description="Port uvicorn listens on.")
    metrics_port: int = Field(
        9090,
        ge=1,
        le=65535,
        description="Port of the Prometheus exposition (any path, `/metrics` by convention), "
        "on HOST; the app port does not serve it.",
    )
    secrets_dir: Path = Field(
        Path("/mnt/secrets"), description="Where the Secrets Store CSI driver mounts secret files."
    )
    secrets_reload_seconds: float = Field(
        1.0, ge=0, description="At most this often the secret files are checked for changes."
    )
    service_token_grace_seconds: float = Field(
        120.0,
        ge=0,
        description="How long the service token this pod's mount held before a rotation "
        "stays in use: aux-service accepts it, main-api tries it when aux-service refuses the "
        "new one. The two pods' mounts rotate up to one CSI poll interval apart.",
    )
    log_level: str = Field("INFO", description="Python log level.")
    api_docs: bool = Field(
        False,
        description="Serve /docs, /redoc and /openapi.json: on locally and in tests, off "
        "wherever the service is public (the eks overlay leaves it off).",
    )
    shutdown_timeout_seconds: int = Field(
        20, gt=0, description="Time in-flight requests get to finish after SIGTERM."
    )
    max_request_head_bytes: int = Field(
        32 * 1024,
        ge=4096,
        description=(
            "Largest request head (request line and headers), and largest trailer section of "
            "a chunked body, read; then 431 and close, after the answers before."
        ),
    )
    header_read_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Time a connection gets to send a complete request, head and body.",
    )
    send_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Time answers may wait for the client to take any of them once the "
        "socket's buffers are full; then the connection is dropped.",
    )
    cpu_batch_scheduling: bool = Field(
        True,
        description="Run the service's threads under Linux's SCHED_BATCH policy: a thread "
        "woken on a busy CPU waits for the running one's time slice instead of preempting it "
        "(main-api's event loop and its HTTP client's thread hand every call to aux-service "
        "back and forth). Off: the default policy is set. Ignored where the OS has no such policy.",
    )
    keep_alive_timeout_seconds: int = Field(
        5, ge=1, description="Idle keep-alive connections are closed after this many seconds."
    )

    @model_validator(mode="after")
    def _metrics_port_is_not_the_app_port(self) -> "ServiceSettings":
        if self.metrics_port == self.port:
            raise ValueError(
                f"METRICS_PORT ({self.metrics_port}) must differ from PORT: the metrics "
                "listener is a second one, apart from the app"
            )
        return self
