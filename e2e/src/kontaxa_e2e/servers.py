"""Real servers for tests, on 127.0.0.1 only: an ASGI app under uvicorn, moto, and fakes.

The fakes exist only for fault injection (a slow or failing upstream); every
component of ours is exercised for real.
"""

import contextlib
import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from kontaxa_local.process_runtime import free_port


def raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """GET `path` byte for byte (httpx and curl normalise `..`; attackers do not)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def eventually(check: Callable[[], bool], timeout: float = 30, interval: float = 0.25) -> bool:
    """Poll `check` until true or `timeout`; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class UvicornThread:
    """An ASGI app served by uvicorn in a background thread (lifespan included)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "UvicornThread":
        """Start serving and wait until the port accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit (in-flight requests finish) and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout=10)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[UvicornThread]:
    """Serve `app` on a free loopback port for the duration of the block."""
    server = UvicornThread(app).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class FakeReply:
    """What the fake upstream answers: status, JSON-able body, headers, and a delay."""

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _HangUpTolerantServer(ThreadingHTTPServer):
    """A test server whose clients may hang up mid-reply: fault tests time out on purpose."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone (reset, broken pipe) is no error here; anything else prints as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeUpstream:
    """A scripted HTTP server for fault injection: every request gets `reply`; requests counted."""

    def __init__(self, reply: FakeReply | Callable[[str], FakeReply]) -> None:
        self.reply = reply
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                reply = outer.reply(self.path) if callable(outer.reply) else outer.reply
                if reply.delay:
                    time.sleep(reply.delay)
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the default stderr access log."""

        self._server = _HangUpTolerantServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeUpstream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScriptedUpstream:
    """A raw TCP upstream for HTTP fault injection: `script` writes whatever bytes it likes.

    For each request head read on a connection, `script(connection, path)` answers on the
    socket; returning "close" closes the connection. Connections, request paths and heads
    are recorded. For faults a well-behaved server cannot produce (1xx, garbage, drips).
    """

    def __init__(self, script: Callable[[socket.socket, str], str | None]) -> None:
        self.script = script
        self.requests: list[str] = []
        self.heads: list[bytes] = []  # each request head as read
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError), connection:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode("latin-1")
                self.heads.append(head)
                self.requests.append(path)
                if self.script(connection, path) == "close":
                    return

    def __enter__(self) -> "ScriptedUpstream":
        return self

    def __exit__(self, *exc: object) -> None:
        # shutdown first: a close alone leaves the socket listening while a thread is in
        # accept(), so a later connection would still be taken.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        for connection in self._open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def http_reply(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    """A complete HTTP/1.1 reply with a Content-Length body (headers as raw lines)."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
