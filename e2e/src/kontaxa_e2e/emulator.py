"""The AWS emulator for tests: a real moto server over HTTP on 127.0.0.1."""

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

from kontaxa_local.emulator import emulator_session
from kontaxa_local.process_runtime import free_port
from kontaxa_local.settings import EMULATOR_CREDENTIALS

# The runner's emulator credentials, as boto3 keyword arguments (valid nowhere but emulators).
CREDENTIALS = {key.lower(): value for key, value in EMULATOR_CREDENTIALS.items()}


# One session for the process, as boto3.client() keeps one: its loader caches the models.
_session = functools.cache(emulator_session)


def aws_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for `service` of the emulator at `endpoint_url`, with its test keys."""
    return _session().client(
        service,  # type: ignore[call-overload]  # any service name, not one literal
        endpoint_url=endpoint_url,
    )


@dataclass
class Emulator:
    """A running moto server and boto3 clients bound to it."""

    url: str
    server: ThreadedMotoServer

    def client(self, service: str) -> Any:
        """A boto3 client for `service` pointed at this emulator."""
        return aws_client(service, self.url)

    def reset(self) -> None:
        """Drop every resource (moto's reset API)."""
        import urllib.request

        request = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()


@contextlib.contextmanager
def moto_server() -> Iterator[Emulator]:
    """Run moto in this process on a free loopback port for the duration of the block."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield Emulator(url=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.stop()
