"""free_port never hands the same port out twice in one process, and takes ports from below
the ephemeral range that outgoing connections draw from.

A port is free when chosen and taken only when its server binds it, a second later for a
service; within one bring-up the next component's port was once chosen in that second and
was the same one (CI: aux-service and the alert sink both on one port, aux-service exited).
The kernel's choice is replaced here by a scripted one that repeats a port. Across
processes (pytest workers, and the processes they start, pick ports at the same time) a port
another process handed out lately is passed over as well.
"""

import random
import socket
import subprocess
import sys
from pathlib import Path
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


def test_ports_come_from_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Outgoing connections take their local ports from the ephemeral range: a port chosen
    there can be a client socket's before its server binds it (EADDRINUSE, seen in a test
    run). Real binds on 127.0.0.1; the range is a file of the kernel's format."""
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("12000\t60999\n")
    monkeypatch.setattr(process_runtime, "_EPHEMERAL_RANGE", ranges)
    ports = [process_runtime.free_port() for _ in range(50)]
    assert all(10_000 <= port < 12_000 for port in ports), ports
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:  # each is bindable
        sock.bind(("127.0.0.1", ports[-1]))


def test_without_room_below_the_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("1024\t65535\n")
    monkeypatch.setattr(process_runtime, "_EPHEMERAL_RANGE", ranges)
    port = process_runtime.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


class _FirstThen(random.Random):
    """A chooser whose first choice is `first`, then random ones."""

    first = 0

    def choice(self, seq: range) -> int:  # type: ignore[override]
        first, type(self).first = type(self).first, 0
        return first or super().choice(seq)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reservations are Linux's")
def test_a_port_another_process_handed_out_is_passed_over_until_it_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from kontaxa_local.process_runtime import free_port; "
            "print(free_port(), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    port = int(holder.stdout.readline())
    monkeypatch.setattr(random, "SystemRandom", _FirstThen)
    try:
        monkeypatch.setattr(process_runtime, "_HANDED_OUT", set())
        _FirstThen.first = port  # offered first, and free to bind: no server holds it
        assert process_runtime.free_port() != port
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    monkeypatch.setattr(process_runtime, "_HANDED_OUT", set())
    _FirstThen.first = port
    assert process_runtime.free_port() == port  # the holder exited: its reservation with it
