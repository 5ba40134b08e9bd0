"""Fixtures of the secrets-provider tests: a real moto server on 127.0.0.1, seeded per test."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from kontaxa_local.process_runtime import free_port

REGION = "us-east-1"
ACCOUNT = "123456789012"

# The main-api SecretProviderClass objects, as the contract names them.
MAIN_API_OBJECTS = """\
- objectName: kontaxa/service-token
  objectType: secretsmanager
  objectAlias: service-token
- objectName: kontaxa/api-keys
  objectType: secretsmanager
  objectAlias: api-keys
  jmesPath:
    - path: primary
      objectAlias: api-key-primary
    - path: secondary
      objectAlias: api-key-secondary
"""
SERVICE_TOKEN = "token-0123456789abcdef"
API_KEYS = '{"primary": "primary-key-1111", "secondary": "secondary-key-2222"}'


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server process on a free loopback port, stopped by its PID at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto server exited {process.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server not ready on {url}: {log.read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def emulator_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy static credentials, as the provider's own environment holds them; no metadata calls."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Store:
    """Clients of the emulator, to seed and change what the provider reads."""

    url: str

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client of the emulator."""
        return boto3.client(service, region_name=region, endpoint_url=self.url)

    def create_secret(self, name: str, value: str | bytes, region: str = REGION) -> dict[str, str]:
        """Create a secret; returns its ARN and VersionId."""
        kind = "SecretString" if isinstance(value, str) else "SecretBinary"
        response = self.client("secretsmanager", region).create_secret(Name=name, **{kind: value})
        return {"arn": response["ARN"], "version": response["VersionId"]}

    def rotate_secret(self, name: str, value: str) -> str:
        """Put a new current value; returns the new VersionId."""
        response = self.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)
        return str(response["VersionId"])

    def put_parameter(self, name: str, value: str, kind: str = "String") -> int:
        """Create or overwrite a parameter; returns its version."""
        response = self.client("ssm").put_parameter(
            Name=name, Value=value, Type=kind, Overwrite=True
        )
        return int(response["Version"])


@pytest.fixture
def store(moto_url: str) -> Store:
    """The emulator, emptied for this test."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
    return Store(moto_url)


@pytest.fixture
def contract_secrets(store: Store) -> dict[str, dict[str, str]]:
    """The two Secrets Manager secrets of the contract, with their ARNs and versions."""
    return {
        "kontaxa/service-token": store.create_secret("kontaxa/service-token", SERVICE_TOKEN),
        "kontaxa/api-keys": store.create_secret("kontaxa/api-keys", API_KEYS),
    }


def snapshot(directory: Path) -> dict[str, Any]:
    """Everything a reader of `directory` can see: entries, link targets, file contents."""
    state: dict[str, Any] = {}
    for path in sorted(directory.rglob("*")):
        relative = str(path.relative_to(directory))
        if path.is_symlink():
            state[relative] = ("link", os.readlink(path))
        elif path.is_file():
            state[relative] = ("file", path.read_bytes(), path.stat().st_mode & 0o777)
        else:
            state[relative] = ("dir",)
    return state


@pytest.fixture
def snapshot_of() -> Any:
    """`snapshot` as a fixture (test modules cannot import conftest under importlib mode)."""
    return snapshot


@pytest.fixture
def main_api_objects() -> str:
    """The main-api SecretProviderClass `objects` YAML."""
    return MAIN_API_OBJECTS


@pytest.fixture
def contract_values() -> dict[str, str]:
    """The plain values behind the contract secrets."""
    return {"service-token": SERVICE_TOKEN, "api-keys": API_KEYS}
