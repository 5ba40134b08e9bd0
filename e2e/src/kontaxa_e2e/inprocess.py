"""Both services built from their real factories and served over HTTP in this process.

Used by the services' API tests: main-api talks to a real aux-service over
HTTP, which talks to a real moto server over HTTP.
"""

import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kontaxa_common.secrets import SERVICE_TOKEN_FILE
from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.load import scrape
from kontaxa_local.process_runtime import free_port

PREFIX = "/kontaxa/app"  # aux-service's default PARAMETER_PREFIX and the ConfigMap's


@dataclass
class SeedData:
    """What `seed` put into the emulator."""

    bucket: str = "kontaxa-demo-test"
    strings: dict[str, str] = field(
        default_factory=lambda: {
            "welcome-message": "Welcome to Kontaxa",
            "feature-flags": '{"dark_mode": true}',
            # Enough names below one path that SSM must paginate (10 per page).
            **{f"bulk/item-{i:02d}": f"value-{i}" for i in range(12)},
        }
    )
    secure: dict[str, str] = field(
        default_factory=lambda: {"db/password": "s3cr3t-" + secrets.token_hex(8)}
    )

    @property
    def names(self) -> list[str]:
        """Every relative parameter name."""
        return sorted([*self.strings, *self.secure])


def seed(emulator: Emulator, data: SeedData | None = None) -> SeedData:
    """Reset the emulator and create the bucket and parameters of `data`."""
    data = data or SeedData()
    emulator.reset()
    emulator.client("s3").create_bucket(Bucket=data.bucket)
    ssm = emulator.client("ssm")
    for name, value in data.strings.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String")
    for name, value in data.secure.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="SecureString")
    # Outside the prefix: must never be served.
    ssm.put_parameter(Name="/other/secret", Value="outside", Type="String")
    return data


@dataclass
class Keys:
    """Secret values written into a secrets directory, as the CSI driver would."""

    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_keys: dict[str, str] = field(
        default_factory=lambda: {
            "primary": secrets.token_urlsafe(24),
            "secondary": secrets.token_urlsafe(24),
        }
    )

    def write(self, directory: Path) -> Path:
        """Write the files main-api and aux-service read; returns `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SERVICE_TOKEN_FILE).write_text(self.service_token)
        for name, value in self.api_keys.items():
            (directory / f"api-key-{name}").write_text(value)
        return directory


class AwsCalls(Counter[str]):
    """Counts the AWS operations a boto3 client makes (botocore's before-call event)."""

    def __call__(self, event_name: str, **_: Any) -> None:
        self[event_name.rsplit(".", 1)[-1]] += 1


def aux_app(emulator_url: str, secrets_dir: Path, **overrides: Any) -> tuple[Any, AwsCalls]:
    """aux-service against `emulator_url`, with an AWS call counter attached."""
    from aux_service.app import create_app
    from aux_service.config import Settings

    settings = Settings(
        aws_endpoint_url=emulator_url,
        secrets_dir=secrets_dir,
        secrets_reload_seconds=0,
        parameter_prefix=PREFIX,
        app_version="1.4.0-test",
        git_sha="aux0sha",
        build_time="2026-01-01T00:00:00Z",
        **{"api_docs": True, "host": "127.0.0.1", "metrics_port": free_port(), **overrides},
    )
    app = create_app(settings)
    calls = AwsCalls()
    for client in (app.state.aws.ssm, app.state.aws.s3):
        client.meta.events.register("before-call", calls)
    return app, calls


def main_app(aux_url: str, secrets_dir: Path, **overrides: Any) -> Any:
    """main-api talking to aux-service at `aux_url`."""
    from main_api.app import create_app
    from main_api.config import Settings

    settings = Settings(
        aux_service_url=aux_url,
        secrets_dir=secrets_dir,
        secrets_reload_seconds=0,
        app_version="2.3.0-test",
        git_sha="main0sha",
        build_time="2026-01-02T00:00:00Z",
        **{"api_docs": True, "host": "127.0.0.1", "metrics_port": free_port(), **overrides},
    )
    return create_app(settings)


def scrape_app(app: Any) -> str:
    """The exposition text of a running app built here, from its metrics listener."""
    return scrape(f"http://127.0.0.1:{app.state.settings.metrics_port}")
