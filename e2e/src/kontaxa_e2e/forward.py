"""A local port kept forwarded to a Kubernetes Service while the pods behind it are replaced.

`kubectl port-forward service/x` resolves the Service to one pod when it starts and ends when
that pod's stream fails (kubernetes/kubectl v0.33.1 pkg/cmd/portforward/portforward.go:
`AttachablePodForObjectFn` picks the pod once; `RunPortForwardContext` "ends portforwarding
when an error is received from the backend"). A test that scales a Deployment to zero and
back therefore kills the forward. `PortForward` restarts the command on the same local port
whenever it exits, so the URL the suite holds stays valid.
"""

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from kontaxa_local.process_runtime import free_port


class PortForward:
    """Runs `command(port)` and restarts it whenever it exits, until `close()`."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        name: str,
        port: int | None = None,
        restart_delay: float = 0.5,
    ) -> None:
        self.port = port or free_port()
        self.name = name
        self.restarts = 0
        self._command = command
        self._restart_delay = restart_delay
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name=f"forward-{name}", daemon=True)

    @property
    def url(self) -> str:
        """The forwarded Service's base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "PortForward":
        """Start the command and its supervisor; raise if nothing listens within `timeout`."""
        self._spawn()
        self._thread.start()
        if not self.wait_listening(timeout):
            self.close()
            raise RuntimeError(f"port-forward to {self.name} did not listen in {timeout:.0f} s")
        return self

    def listening(self) -> bool:
        """Something accepts connections on the local port now."""
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def wait_listening(self, timeout: float) -> bool:
        """Poll until the local port accepts connections (a restart may be under way)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.listening():
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        """Stop the supervisor, then the command."""
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def _spawn(self) -> None:
        process = subprocess.Popen(
            self._command(self.port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        with self._lock:
            self._process = process

    def _supervise(self) -> None:
        while not self._closed.wait(0.1):
            with self._lock:
                process = self._process
            if process is None or process.poll() is None:
                continue
            # The pod went away (or none is running yet): try again after a short pause.
            if self._closed.wait(self._restart_delay):
                return
            with contextlib.suppress(OSError):
                self._spawn()
                self.restarts += 1
