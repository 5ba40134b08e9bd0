"""free_port never hands the same port out twice in one process, and takes ports from below
the ephemeral range that outgoing connections draw from.

A port is free when chosen and taken only when its server binds it, a second later for a
service; within one bring-up the next component's port was once chosen in that second and
was the same one (CI: aux-service and the alert sink both on one port, aux-service exited).
The kernel's choice is replaced here by a scripted one that repeats a port. Across
processes (pytest workers, and the processes they start, pick ports at the same time) a port
another process handed out lately is passed over as well.
"""

import errno
import os
import random
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import pytest

from kontaxa_local import process_runtime


class _Socket:
    """socket.socket whose bind to port 0 yields the scripted ports in turn."""

    ports: Iterator[int] = iter(())

    def __enter__(self) -> "_Socket":
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = next(self.ports)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


@pytest.fixture
def reservations(monkeypatch: pytest.MonkeyPatch) -> Iterator[deque[socket.socket]]:
    """This test's own reservations and memory of ports handed out, released after it."""
    held: deque[socket.socket] = deque()
    monkeypatch.setattr(process_runtime, "_RESERVED", held)
    monkeypatch.setattr(process_runtime, "_HANDED_OUT", set())
    yield held
    for holder in held:
        holder.close()


def test_a_port_the_kernel_offers_again_is_not_handed_out_again(
    monkeypatch: pytest.MonkeyPatch, reservations: deque[socket.socket]
) -> None:
    """Remembered for the process's life, also once its reservation has been let go (one
    held here): the third offer repeats the first port. The reservations are made under
    names of this test's own, so that no other process's (a test run beside it reserves
    hundreds of ports) can hold one of the scripted ports."""
    first = random.SystemRandom().randrange(20_000, 30_000, 4)
    monkeypatch.setattr(
        process_runtime, "_RESERVATION_NAME", f"\0kontaxa-port-test-{os.getpid()}-{{}}"
    )
    monkeypatch.setattr(process_runtime, "_RESERVATIONS_HELD", 1)
    monkeypatch.setattr(_Socket, "ports", iter([first, first + 1, first, first + 2]))
    monkeypatch.setattr(socket, "socket", _Socket)
    assert process_runtime.free_port() == first
    assert process_runtime.free_port() == first + 1
    assert process_runtime.free_port() == first + 2
    assert len(reservations) == 1


def test_threads_asking_at_once_hold_no_more_than_the_limit(
    monkeypatch: pytest.MonkeyPatch, reservations: deque[socket.socket]
) -> None:
    """Real binds from eight threads switching as often as the interpreter lets them."""
    monkeypatch.setattr(process_runtime, "_RESERVATIONS_HELD", 8)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            ports = list(pool.map(lambda _: process_runtime.free_port(), range(400)))
    finally:
        sys.setswitchinterval(interval)
    assert len(set(ports)) == len(ports)
    assert len(reservations) <= 8, len(reservations)


class _RefusedName:
    """An AF_UNIX socket whose bind a confinement (AppArmor, a snap) refuses."""

    def __init__(self, *args: object) -> None:
        return None

    def bind(self, address: str) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    def close(self) -> None:
        return None


def test_a_reservation_refused_for_another_reason_leaves_the_port_unreserved(
    monkeypatch: pytest.MonkeyPatch, reservations: deque[socket.socket]
) -> None:
    """Only EADDRINUSE means another process holds the port; any other refusal means no
    reservation can be made here, and the port is handed out as off Linux."""
    monkeypatch.setattr(process_runtime, "_new_socket", _RefusedName)
    port = process_runtime.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert not reservations


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
