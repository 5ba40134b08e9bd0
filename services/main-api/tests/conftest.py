"""main-api under test, talking over HTTP to a real aux-service backed by a real moto server."""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.inprocess import AwsCalls, Keys, SeedData, aux_app, main_app, seed
from kontaxa_e2e.servers import UvicornThread, raw_get, serve
from kontaxa_local.process_runtime import free_port


def process_env(secrets: Path, port: int, metrics_port: int, **extra: str) -> dict[str, str]:
    """The environment of a real `python -m main_api` on loopback whose aux-service does not
    answer (a free port nothing listens on), with `extra` settings on top."""
    return {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "SECRETS_DIR": str(secrets),
        "AUX_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


MAIN_META = {
    "main_api_version": "2.3.0-test",
    "aux_service_version": "1.4.0-test",
    "git_sha": "main0sha",
    "build_time": "2026-01-02T00:00:00Z",
}


@dataclass
class Stack:
    """main-api and the aux-service behind it."""

    main: UvicornThread
    main_app: Any
    aux: UvicornThread | None
    aux_app: Any
    calls: AwsCalls
    keys: Keys
    data: SeedData
    http: httpx.Client
    secrets_dir: Path

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """GET main-api with the primary API key (or `key`)."""
        token = key if key is not None else self.keys.api_keys["primary"]
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.get(path, headers=headers, **kwargs)

    def get_as_is(self, path: str) -> tuple[int, Any]:
        """GET main-api with `path` byte for byte."""
        auth = {"Authorization": f"Bearer {self.keys.api_keys['primary']}"}
        return raw_get(self.main.url, path, auth)

    def aux_requests(self, route: str) -> float:
        """How many requests aux-service served on `route` (from its own metrics)."""
        total = 0.0
        for metric in self.aux_app.state.metrics.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels["route"] == route:
                    total += sample.value
        return total


@contextlib.contextmanager
def start_main(
    aux_url: str, keys: Keys, secrets_dir: Path, **overrides: Any
) -> Iterator[tuple[UvicornThread, Any, httpx.Client]]:
    """Serve main-api pointed at `aux_url`."""
    app = main_app(aux_url, secrets_dir, **overrides)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield server, app, http


@pytest.fixture
def stack(emulator: Emulator, secrets_root: Path) -> Iterator[Stack]:
    """The two services wired over HTTP against the seeded emulator."""
    data = seed(emulator)
    keys = Keys()
    keys.write(secrets_root)
    aux, calls = aux_app(emulator.url, secrets_root)
    with serve(aux) as aux_server, start_main(aux_server.url, keys, secrets_root) as main:
        main_server, app, http = main
        yield Stack(main_server, app, aux_server, aux, calls, keys, data, http, secrets_root)
