"""free_port never hands the same port out twice in one process.

A port is free when chosen and taken only when its server binds it, a second later for a
service; within one bring-up the next component's port was once chosen in that second and
was the same one (CI: aux-service and the alert sink both on one port, aux-service exited).
The kernel's choice is replaced here by a scripted one that repeats a port.
"""

import socket
from types import TracebackType

import pytest

from kontaxa_local import process_runtime


class _Socket:
    """socket.socket whose bind to port 0 yields the scripted ports in turn."""

    ports = iter([41001, 41001, 41002])

    def __enter__(self) -> "_Socket":
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = next(self.ports)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_the_kernel_offers_again_is_not_handed_out_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process_runtime, "_HANDED_OUT", set())
    monkeypatch.setattr(socket, "socket", _Socket)
    assert process_runtime.free_port() == 41001
    assert process_runtime.free_port() == 41002
