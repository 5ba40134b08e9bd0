"""The kind target's port-forwards survive the replacement of the pods behind them.

A fake `kubectl port-forward` (a real process on 127.0.0.1) answers with its own pid and exits
after a set number of connections, as kubectl does when the pod it bound to goes away
(kubernetes/kubectl v0.33.1 pkg/cmd/portforward/portforward.go); `fail_first` makes the
first starts exit at once, as kubectl does while no pod is Running yet.
"""

import os
import sys
from pathlib import Path

import httpx
import pytest

from kontaxa_e2e.forward import PortForward
from kontaxa_e2e.servers import eventually

FAKE_FORWARD = r"""
import os, socket, sys
port, serve, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
starts = int(open(marker).read() or 0) + 1 if os.path.exists(marker) else 1
open(marker, "w").write(str(starts))
if starts <= int(sys.argv[4]):
    sys.exit("unable to forward port because pod is not running")
server = socket.create_server(("127.0.0.1", port), reuse_port=False)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for _ in range(serve):
    connection, _ = server.accept()
    connection.recv(4096)
    body = str(os.getpid()).encode()
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                       % (len(body), body))
    connection.close()
sys.exit("error: lost connection to pod")
"""


def _forward(tmp_path: Path, serve: int, fail_first: int = 0) -> PortForward:
    script = tmp_path / "fake_forward.py"
    script.write_text(FAKE_FORWARD)
    marker = tmp_path / "starts"
    return PortForward(
        lambda port: [
            sys.executable,
            str(script),
            str(port),
            str(serve),
            str(marker),
            str(fail_first),
        ],
        "aux-service",
        restart_delay=0.05,
    )


def _pid(forward: PortForward) -> int:
    """The pid behind the forward; a request caught by a dying process is retried."""
    answer: list[int] = []

    def served() -> bool:
        try:
            answer.append(int(httpx.get(forward.url, timeout=5).text))
        except httpx.TransportError:
            return False
        return True

    assert eventually(served, timeout=10, interval=0.05), "the forward did not come back"
    return answer[-1]


def test_a_forward_whose_process_dies_comes_back_on_the_same_url(tmp_path: Path) -> None:
    forward = _forward(tmp_path, serve=2).start(timeout=10)
    try:
        url = forward.url
        pids = [_pid(forward) for _ in range(6)]  # each process serves 2 connections
        assert len(set(pids)) >= 2, "the forward was never restarted"
        assert forward.url == url
        assert forward.restarts >= 1
        second = pids[-1]
    finally:
        forward.close()
    assert not forward.listening()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_a_forward_retries_while_no_pod_is_running(tmp_path: Path) -> None:
    forward = _forward(tmp_path, serve=5, fail_first=3).start(timeout=10)
    try:
        assert _pid(forward) > 0
        assert forward.restarts >= 3
    finally:
        forward.close()
