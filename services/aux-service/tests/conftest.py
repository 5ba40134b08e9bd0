"""aux-service under test: the real app over HTTP against a real moto server."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.inprocess import AwsCalls, Keys, SeedData, aux_app, seed
from kontaxa_e2e.servers import UvicornThread, raw_get, serve


@dataclass
class Aux:
    """A running aux-service with what tests need to drive and observe it."""

    server: UvicornThread
    app: Any
    calls: AwsCalls
    keys: Keys
    data: SeedData
    http: httpx.Client

    def get_as_is(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET `path` exactly as written: no client-side dot-segment removal."""
        return raw_get(self.server.url, path, {"X-Service-Token": self.keys.service_token})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with the service token."""
        headers = {"X-Service-Token": self.keys.service_token, **kwargs.pop("headers", {})}
        return self.http.get(path, headers=headers, **kwargs)


@pytest.fixture
def seeded(emulator: Emulator) -> SeedData:
    """The emulator reset and seeded with the test bucket and parameters."""
    return seed(emulator)


@contextlib.contextmanager
def start_aux(url: str, secrets_root: Path, data: SeedData, **overrides: Any) -> Iterator[Aux]:
    """Build, serve and tear down aux-service against the emulator at `url`."""
    keys = Keys()
    app, calls = aux_app(url, keys.write(secrets_root), **overrides)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        yield Aux(server, app, calls, keys, data, http)


@pytest.fixture
def aux(emulator: Emulator, seeded: SeedData, secrets_root: Path) -> Iterator[Aux]:
    """aux-service with a warm-able cache against the seeded emulator."""
    with start_aux(emulator.url, secrets_root, seeded) as running:
        yield running
