"""pytest fixtures shared by every tier (registered from the root conftest.py)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kontaxa_e2e.emulator import CREDENTIALS, Emulator, moto_server
from kontaxa_local.settings import REGION

# No test may reach real AWS: pin the default credential chain to the emulator's dummies.
os.environ.update(
    AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
    AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
    AWS_DEFAULT_REGION=REGION,
)
for _variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_variable, None)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A moto server on a free loopback port, shared by the session (reset per test as needed)."""
    with moto_server() as running:
        yield running


@pytest.fixture
def secrets_root(tmp_path: Path) -> Path:
    """A directory for secret files, as the CSI driver mounts them."""
    path = tmp_path / "secrets"
    path.mkdir()
    return path
