"""The fault catalogue of main-api's client for aux-service: misbehaving upstreams on loopback.

Each case is a reply a real server, proxy or broken network can produce; main-api must
answer its own caller correctly (the right body, or its documented 502/503/504) and go on
serving the next request correctly. The upstreams are raw sockets (`ScriptedUpstream`), the
client and main-api are real.
"""

import json
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from kontaxa_e2e.inprocess import Keys, scrape_app
from kontaxa_e2e.servers import ScriptedUpstream, http_reply

from .conftest import start_main


@pytest.fixture
def keys(secrets_root: Path) -> Keys:
    keys = Keys()
    keys.write(secrets_root)
    return keys


def parameter_body(path: str) -> bytes:
    """aux-service's reply for /parameters/<name>, naming the parameter it was asked for."""
    name = path.rsplit("/parameters/", 1)[-1]
    parameter = {
        "name": name,
        "full_name": f"/kontaxa/app/{name}",
        "type": "String",
        "version": 1,
        "secure": False,
        "value": f"value of {name}",
    }
    return json.dumps({"parameter": parameter}).encode()


class Main:
    """main-api in front of a scripted upstream."""

    def __init__(self, http: httpx.Client, keys: Keys) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {keys.api_keys['primary']}"}

    def parameter(self, name: str) -> httpx.Response:
        return self.http.get(f"/parameters/{name}", headers=self.auth)

    def value_of(self, name: str) -> Any:
        response = self.parameter(name)
        assert response.status_code == 200, response.text
        return response.json()["parameter"]["value"]


def _main(upstream: ScriptedUpstream, keys: Keys, secrets_root: Path, **overrides: Any) -> Any:
    return start_main(upstream.url, keys, secrets_root, **overrides)


@pytest.fixture
def run(keys: Keys, secrets_root: Path) -> Any:
    """`run(script, **settings)`: main-api against a ScriptedUpstream running `script`."""

    def start(script: Any, **overrides: Any) -> Iterator[tuple[Main, ScriptedUpstream]]:
        upstream = ScriptedUpstream(script)
        with upstream, _main(upstream, keys, secrets_root, **overrides) as (_, _, http):
            yield Main(http, keys), upstream

    return lambda script, **overrides: contextmanager(start)(script, **overrides)


def test_1xx_before_the_reply_is_skipped(run: Any) -> None:
    def early_hints(connection: socket.socket, path: str) -> None:
        hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        connection.sendall(hints + http_reply(parameter_body(path)))

    with run(early_hints) as (main, _):
        # The old client took the 103 as the reply: 502, then every reply one request late.
        assert main.value_of("first") == "value of first"
        assert main.value_of("second") == "value of second"
        assert main.value_of("third") == "value of third"


def test_101_is_502_and_the_next_request_is_served(run: Any) -> None:
    calls = []

    def upgrade_once(connection: socket.socket, path: str) -> str | None:
        calls.append(path)
        if len(calls) == 1:
            connection.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )
            return "close"
        connection.sendall(http_reply(parameter_body(path)))
        return None

    with run(upgrade_once) as (main, _):
        response = main.parameter("first")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
        assert main.value_of("second") == "value of second"


def test_a_partial_reply_after_the_body_poisons_nothing(run: Any) -> None:
    def trailing_garbage(connection: socket.socket, path: str) -> None:
        stray = b'HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n{"parameter": {"name": "poison'
        connection.sendall(http_reply(parameter_body(path)) + stray)

    with run(trailing_garbage) as (main, _):
        for name in ("first", "second", "third"):
            assert main.value_of(name) == f"value of {name}"


def test_a_close_delimited_body_is_read_not_retried(run: Any) -> None:
    def http10(connection: socket.socket, path: str) -> str:
        connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
        connection.sendall(parameter_body(path))
        return "close"

    with run(http10) as (main, upstream):
        assert main.value_of("first") == "value of first"
        assert upstream.requests == ["/parameters/first"]  # one request, no retry


CUT_SHORT = {
    # aux-service killed between writing a reply's head and its body (uvicorn writes
    # them apart): pyreqwest calls this one a BodyDecodeError, the 502 of the e2e failure.
    "content-length": b"Content-Length: 200\r\n\r\n" + b'{"parameter": ',
    "in a chunk": b"Transfer-Encoding: chunked\r\n\r\n40\r\n" + b'{"parameter": ',
    "before a chunk's CRLF": b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}",
    "in a chunk-size line": b"Transfer-Encoding: chunked\r\n\r\n4",
    "in the last chunk": b"Transfer-Encoding: chunked\r\n\r\n0\r\n",
}
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def _reset(connection: socket.socket) -> None:
    """Close with a reset (RST), as the kernel does for a killed process with unread data."""
    time.sleep(0.2)  # the head and the first bytes are read first
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("how", ["closed", "reset"])
@pytest.mark.parametrize("cut", CUT_SHORT.values(), ids=CUT_SHORT.keys())
def test_a_reply_cut_short_by_the_connection_ending_is_retried(
    run: Any, cut: bytes, how: str
) -> None:
    # A GET whose reply never arrived whole: nothing usable was answered, so it goes again.
    def first_cut(connection: socket.socket, path: str) -> str | None:
        if len(upstream.requests) > 1:
            connection.sendall(http_reply(parameter_body(path)))
            return None
        connection.sendall(HEAD + cut)
        if how == "reset":
            _reset(connection)
        return "close"

    with run(first_cut) as (main, upstream):
        assert main.value_of("first") == "value of first"
        assert upstream.requests == ["/parameters/first"] * 2


def test_replies_always_cut_short_are_502_after_the_retries(run: Any) -> None:
    # Every try got a head: aux-service is up and breaks its replies, which is no
    # "unreachable" (503, and upstream_up 0 would point the operator elsewhere).
    def always_cut(connection: socket.socket, path: str) -> str:
        connection.sendall(HEAD + CUT_SHORT["content-length"])
        return "close"

    with run(always_cut, aux_max_retries=1) as (main, upstream):
        response = main.parameter("first")
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "upstream_error"
        assert upstream.requests == ["/parameters/first"] * 2


def test_retries_end_with_the_read_timeout(run: Any) -> None:
    # Each try is cut short after 0.4 s: three tries would take 1.2 s against a read timeout
    # of 0.5 s. The timeout bounds the call, retries included: a retry gets what is left.
    def slow_cut(connection: socket.socket, path: str) -> str:
        connection.sendall(HEAD + CUT_SHORT["content-length"])
        time.sleep(0.4)
        return "close"

    with run(slow_cut, aux_read_timeout_seconds=0.5, aux_max_retries=2) as (main, upstream):
        started = time.monotonic()
        response = main.parameter("first")
        elapsed = time.monotonic() - started
        assert response.status_code in (502, 504), response.text
        assert elapsed < 0.9, f"{elapsed:.2f} s for a call whose read timeout is 0.5 s"
        assert 1 <= len(upstream.requests) <= 2


def test_a_reply_cut_short_then_refused_is_503_unreachable(run: Any) -> None:
    # The e2e kill under load: cut short by the dying process, then nothing listens.
    def cut_then_gone(connection: socket.socket, path: str) -> str:
        connection.sendall(HEAD + CUT_SHORT["content-length"])
        upstream.__exit__()  # the listener closes: the retry is refused
        return "close"

    with run(cut_then_gone, aux_max_retries=1) as (main, upstream):
        response = main.parameter("first")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "upstream_unavailable"
        assert upstream.requests == ["/parameters/first"]


def test_a_chunked_body_split_across_reads(run: Any) -> None:
    def chunked_drip(connection: socket.socket, path: str) -> None:
        body = parameter_body(path)
        pieces = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}".encode(),
            b"\r\n" + body[:7],
            body[7:] + b"\r",
            b"\n0\r\n",
            b"\r\n",
        ]
        for piece in pieces:
            connection.sendall(piece)
            time.sleep(0.02)

    with run(chunked_drip) as (main, _):
        assert main.value_of("first") == "value of first"
        assert main.value_of("second") == "value of second"


OVERSIZED = {
    "header line of 8 MiB": b"X-Big: " + b"a" * (8 << 20) + b"\r\n",
    "65,536 header fields": b"".join(b"X-F%d: v\r\n" % i for i in range(65536)),
}


@pytest.mark.parametrize("head", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_an_oversized_head_is_refused_fast(run: Any, head: bytes) -> None:
    def huge_head(connection: socket.socket, path: str) -> str:
        connection.sendall(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 2\r\n\r\n{}")
        return "close"

    with run(huge_head) as (main, _):
        started = time.monotonic()
        response = main.parameter("first")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
        assert time.monotonic() - started < 1.5
        assert main.http.get("/health").status_code == 200


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_oversized_body_is_refused(
    run: Any, framing: str, capfd: pytest.CaptureFixture[str]
) -> None:
    def huge_body(connection: socket.socket, path: str) -> str:
        # A valid reply, but 2 MiB of it: over the 1 MiB limit set below.
        body = parameter_body(path)[:-1] + b', "padding": "' + b"a" * (2 << 20) + b'"}'
        if framing == "content-length":
            connection.sendall(http_reply(body))
        else:
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 65536):
                chunk = body[start : start + 65536]
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        return "close"

    with run(huge_body, aux_max_reply_bytes=1 << 20) as (main, _):
        capfd.readouterr()
        response = main.parameter("first")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
    # The log says what was wrong with the reply, once: its size against the limit.
    unusable = [line for line in capfd.readouterr().err.splitlines() if "unusable reply" in line]
    assert len(unusable) == 1
    assert f"over {1 << 20}" in unusable[0]


@pytest.mark.parametrize("where", ["head", "body"])
def test_a_slow_drip_is_504_within_the_read_timeout(run: Any, where: str) -> None:
    def drip(connection: socket.socket, path: str) -> str:
        if where == "body":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            data = b"a" * 1000
        else:
            data = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200
        for byte in data[:60]:
            connection.sendall(bytes([byte]))
            time.sleep(0.05)
        return "close"

    with run(drip, aux_read_timeout_seconds=0.5) as (main, upstream):
        started = time.monotonic()
        response = main.parameter("first")
        assert response.status_code == 504
        assert time.monotonic() - started < 1.5
        assert len(upstream.requests) == 1  # a timeout is not retried


def test_a_full_pool_with_a_stalled_upstream_fails_within_the_timeout(run: Any) -> None:
    def stall(connection: socket.socket, path: str) -> str:
        time.sleep(6)
        return "close"

    with run(stall, aux_read_timeout_seconds=1.0, aux_max_connections=2) as (main, _):
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda n: main.parameter(f"p{n}").status_code, range(8)))
        elapsed = time.monotonic() - started
        assert statuses == [504] * 8
        # The old pool queued callers without a deadline: 8 callers, 2 connections, 4 x 1 s.
        assert elapsed < 2.5, elapsed


def test_readiness_answers_at_once_while_the_pool_is_full_and_stalled(run: Any) -> None:
    """/ready shares nothing with the callers waiting on the pool: it starts its check of
    aux-service in the background and answers at once; /health then reports the timeouts."""

    def stall(connection: socket.socket, path: str) -> str:
        time.sleep(6)
        return "close"

    with run(stall, aux_read_timeout_seconds=1.5, aux_max_connections=2) as (main, upstream):
        with ThreadPoolExecutor(6) as pool:
            callers = [pool.submit(main.parameter, f"p{n}") for n in range(6)]
            deadline = time.monotonic() + 1.4  # within the callers' 1.5 s timeout
            while len(upstream.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(upstream.requests) == 2, "the pool's two connections never filled"
            started = time.monotonic()
            ready = main.http.get("/ready")
            waited = time.monotonic() - started
            statuses = [caller.result().status_code for caller in callers]
        assert ready.status_code == 200, ready.text
        # Waiting on the pool would take the 1.5 s timeout; the margin is for a busy machine.
        assert waited < 1.0, f"/ready waited {waited:.2f} s on the full pool"
        assert statuses == [504] * 6
        assert main.http.get("/health").json()["checks"]["aux_service"] == "timeout"


def test_a_connect_timeout_is_unreachable_and_retried(keys: Keys, secrets_root: Path) -> None:
    # A listener that never accepts, its backlog full: the kernel drops further SYNs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    overrides = {"aux_connect_timeout_seconds": 0.3, "aux_max_retries": 1}
    try:
        with start_main(f"http://127.0.0.1:{port}", keys, secrets_root, **overrides) as (
            _,
            app,
            http,
        ):
            response = http.get(
                "/parameters/first", headers={"Authorization": f"Bearer {keys.api_keys['primary']}"}
            )
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "upstream_unavailable"
            retries = [x for x in scrape_app(app).splitlines() if "retries_total{" in x]
            assert retries
            assert retries[0].endswith(" 1.0")
    finally:
        for sock in [*fillers, listener]:
            sock.close()


NOT_TEXT = {
    "version header": b"X-Aux-Service-Version: 1.0\xff",
    "retry-after": b"Retry-After: 1\xe9",
}


@pytest.mark.parametrize("header", NOT_TEXT.values(), ids=NOT_TEXT.keys())
def test_a_reply_header_that_is_not_text_is_502(run: Any, header: bytes) -> None:
    def obs_text(connection: socket.socket, path: str) -> None:
        body = parameter_body(path)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + header + b"\r\n"
        connection.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    with run(obs_text) as (main, _):
        # It was a 500 (pyreqwest's ValueError from get_header), and /version failed too.
        response = main.parameter("first")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
        version = main.http.get("/version")
        assert version.status_code == 200
        assert version.json()["aux_service"] is None


@pytest.mark.parametrize("token", ["tok\x01en", "tökén"], ids=["control", "non-ascii"])
def test_a_service_token_no_header_can_carry_is_503_and_never_sent(
    keys: Keys, secrets_root: Path, token: str
) -> None:
    (secrets_root / "service-token").write_text(token)
    upstream = ScriptedUpstream(lambda connection, path: connection.sendall(http_reply(b"{}")))
    with upstream, _main(upstream, keys, secrets_root) as (_, _, http):
        response = Main(http, keys).parameter("first")
        assert response.status_code == 503  # it was a 500 (pyreqwest refused the header)
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert error["message"] == "main-api's service token is not a valid header value"
        assert not [path for path in upstream.requests if path.startswith("/parameters")]
        # Not ready either: it was 200 with a token present that no request could carry.
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"secrets": "missing"}


def test_a_key_is_never_sent_on_to_aux_service(keys: Keys, secrets_root: Path) -> None:
    """main-api's logs redact its keys; aux-service's (and AWS's, for a parameter name) would
    not, as aux-service knows only its own token. A name holding a key is refused there, and
    a request ID holding one is replaced by a fresh ID towards aux-service (a review found
    both passed on when the key was not the whole name, segment or ID)."""
    upstream = ScriptedUpstream(
        lambda connection, path: connection.sendall(http_reply(parameter_body(path)))
    )
    key = keys.api_keys["primary"]
    secondary = keys.api_keys["secondary"]
    with upstream, _main(upstream, keys, secrets_root) as (_, _, http):
        main = Main(http, keys)
        for name in (key, f"team/{secondary}", f"{key}/x", f"{key}-notes", f"note-{secondary}"):
            response = main.parameter(name)
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["code"] == "invalid_parameter_name"
            assert error["message"] == "a parameter name may not contain a credential"
            assert key not in response.text
            assert secondary not in response.text
        assert not [path for path in upstream.requests if path.startswith("/parameters")]
        # A name holding part of a key is a name like any other.
        assert main.parameter(f"{key[:12]}-notes").status_code == 200

        for request_id in (secondary, f"trace-{secondary}"):
            headers = {**main.auth, "X-Request-ID": request_id}
            response = http.get("/parameters/first", headers=headers)
            assert response.status_code == 200
            assert response.headers["x-request-id"] == request_id  # the client's own, echoed
            assert not [head for head in upstream.heads if secondary.encode() in head]
            assert b"x-request-id: " in upstream.heads[-1].lower()
        # An ordinary request ID still goes through as it is.
        http.get("/parameters/first", headers={**main.auth, "X-Request-ID": "trace-42"})
        assert b"trace-42" in upstream.heads[-1]
