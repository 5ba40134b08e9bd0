"""Request heads bounded where they are read: main-api as a real server process on loopback.

uvicorn alone parsed a 64 MiB header before the app's 431 (seconds of CPU, the liveness
probe starved meanwhile) and kept idle or dripping connections open forever. These tests
run `python -m main_api` (kontaxa_common.server.serve) and talk raw TCP to it.
"""

import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kontaxa_e2e.inprocess import Keys
from kontaxa_e2e.servers import wait_for_port
from kontaxa_local.process_runtime import free_port

from .conftest import process_env

HEAD_TIMEOUT = 1.0
KEEP_ALIVE = 1
SEND_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def main_api_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """main-api served by its own command, as (port, pid); aux-service absent (not needed
    for /health)."""
    secrets = Keys().write(tmp_path_factory.mktemp("secrets"))
    port = free_port()
    env = process_env(
        secrets,
        port,
        free_port(),
        HEADER_READ_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
        KEEP_ALIVE_TIMEOUT_SECONDS=str(KEEP_ALIVE),
        SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT),
        API_DOCS="true",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "main_api"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, timeout=30)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def main_api(main_api_process: tuple[int, int]) -> int:
    """The port of that main-api."""
    return main_api_process[0]


def _connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    return connection


def _closed_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the server closes `connection` within `seconds` (reading what it sends)."""
    connection.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if connection.recv(65536) == b"":
                return True
    except ConnectionResetError:  # closed, with something of ours unread (see `_drip`)
        return True
    except TimeoutError:
        return False
    return False


def test_a_huge_header_is_refused_after_the_limit_not_parsed_whole(main_api: int) -> None:
    connection = _connect(main_api)
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    started = time.monotonic()
    sent = 0
    try:
        for _ in range(1024):  # up to 64 MiB, 64 KiB at a time
            connection.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = b""
    try:
        connection.settimeout(2)
        reply = connection.recv(65536)
    except (OSError, TimeoutError):
        pass
    elapsed = time.monotonic() - started
    connection.close()
    assert sent < 8 << 20, f"the server read {sent} bytes of one header"
    assert elapsed < 3
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431")
    assert httpx.get(f"http://127.0.0.1:{main_api}/health", timeout=2).status_code == 200


def test_an_idle_new_connection_is_closed(main_api: int) -> None:
    connection = _connect(main_api)
    assert _closed_within(connection, HEAD_TIMEOUT + 2)
    connection.close()


def _drip(connection: socket.socket, data: bytes, interval: float) -> float | None:
    """Send `data` a byte every `interval`; seconds until the server closed, or None."""
    started = time.monotonic()
    try:
        for byte in data:
            # A close with our unread bytes in its buffer is a reset (RFC 1122 4.2.2.13): it
            # shows on the next send or on the read, either of which is the server closing.
            try:
                connection.sendall(bytes([byte]))
                readable = select.select([connection], [], [], interval)[0]
                if readable and connection.recv(65536) == b"":
                    return time.monotonic() - started
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        return None
    finally:
        connection.close()


def test_a_head_dripped_byte_by_byte_is_cut_off(main_api: int) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    closed_after = _drip(_connect(main_api), head, 0.1)
    assert closed_after is not None, "the server kept a dripping connection for 14 s"
    assert HEAD_TIMEOUT - 0.2 < closed_after < HEAD_TIMEOUT + 1.5


def test_a_body_dripped_byte_by_byte_is_cut_off(main_api: int) -> None:
    # The head complete and quick; then a body announced at 1 GB, one byte every 0.2 s.
    connection = _connect(main_api)
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
    closed_after = _drip(connection, b"a" * 40, 0.2)
    assert closed_after is not None, "the server kept a connection dripping its body for 8 s"
    assert closed_after < HEAD_TIMEOUT + 1.5


def test_an_idle_keep_alive_connection_is_closed(main_api: int) -> None:
    connection = _connect(main_api)
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    connection.settimeout(5)
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    assert _closed_within(connection, KEEP_ALIVE + 2)
    connection.close()


def test_requests_within_the_limits_are_served(main_api: int) -> None:
    headers = {"X-Fine": "a" * 8000}
    with httpx.Client(base_url=f"http://127.0.0.1:{main_api}", timeout=5) as client:
        for _ in range(3):  # keep-alive: several requests on one connection
            assert client.get("/health", headers=headers).status_code == 200
        # Over the middleware's 16 KiB but within the server's head limit: the enveloped 431.
        response = client.get("/health", headers={"X-Big": "a" * 20_000})
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "request_headers_too_large"


def _statuses(port: int, *writes: bytes) -> list[int]:
    """The status of every reply to `_replies`, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", _replies(port, *writes))]


def _replies(port: int, *writes: bytes) -> bytes:
    """Send pipelined requests, each of `writes` in one write (a tenth of a second apart);
    every byte the server answers until it closes the connection."""
    connection = _connect(port)
    for index, data in enumerate(writes):
        if index:
            time.sleep(0.1)
        connection.sendall(data)
    replies = b""
    try:
        while chunk := connection.recv(65536):
            replies += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    connection.close()
    return replies


GET = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
LAST_GET = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_pipelined_requests_within_the_limits_are_all_answered(main_api: int) -> None:
    """The head limit is per request: a thousand small heads in one read (33 KB, over the
    32 KiB limit together) and heads of 15 KB behind a small one are each within it."""
    assert _statuses(main_api, GET * 999 + LAST_GET) == [200] * 1000
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Fine: " + b"a" * 15_000 + b"\r\n\r\n"
    assert len(big) < 16 * 1024
    assert _statuses(main_api, GET + big * 3 + LAST_GET) == [200] * 5


def test_a_head_over_the_limit_is_refused_after_the_replies_before_it(main_api: int) -> None:
    """A client reads replies in order: the 431 comes after the answer to the request
    pipelined before the oversized head, not in its place."""
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    assert _statuses(main_api, GET * 3 + oversized + GET) == [200, 200, 200, 431]


def test_a_malformed_body_is_refused_after_the_replies_before_it(main_api: int) -> None:
    """uvicorn wrote the 400 for a malformed chunked body at once and closed: the answers to
    the requests before it were lost, and the 400 read as the first one's."""
    chunked = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    replies = _replies(main_api, GET * 3 + chunked + GET)
    assert [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", replies)] == [200] * 3 + [400]
    assert replies.endswith(b"Invalid HTTP request received.")


def test_a_head_over_the_limit_is_refused_wherever_it_starts_in_a_read(main_api: int) -> None:
    """The head is counted from its first byte, also where it follows a body or another head
    in the same read, or ends in a later one: each is refused (431), not parsed whole."""
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 120_000 + b"\r\n\r\n"
    with_body = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 62_000 + b"\r\n\r\n"
    for writes, first in (
        ((with_body + oversized,), 405),
        ((GET + head[:32_000], head[32_000:]), 200),
    ):
        replies = _replies(main_api, *writes)
        assert [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", replies)] == [first, 431]
        # The server's own refusal, before the parser read the head (not the app's 431,
        # which comes after the whole head was parsed).
        assert replies.endswith(b"request head is too large\r\n"), replies[-200:]
        # With the `date` every answer of an origin server with a clock carries (RFC 9110,
        # 6.6.1), as the answers before it.
        refusal = replies[replies.rindex(b"HTTP/1.1 431") :]
        assert re.search(rb"\r\ndate: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n", refusal)


# A request asking to switch protocols, with a body that reads as a request of its own.
_INNER = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
UPGRADE = (
    b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_INNER)
) + _INNER


@pytest.mark.parametrize(
    ("writes", "answered"),
    [((UPGRADE + GET,), 1), ((UPGRADE, GET), 1), ((GET + UPGRADE + GET,), 2)],
    ids=["one-read", "two-reads", "after-a-request"],
)
def test_an_upgrade_request_is_answered_once_and_its_body_is_never_a_request(
    main_api: int, writes: tuple[bytes, ...], answered: int
) -> None:
    """The services speak no other protocol: a request asking to switch (`Connection:
    Upgrade`) gets its answer over HTTP/1.1 and the connection closes after it. uvicorn 0.54
    alone stopped parsing at that head and went on with what followed it, so its body (by
    Content-Length) was answered as a request of its own (encode/uvicorn#2722): a proxy
    reusing the connection reads that extra reply as the answer to its next request."""
    replies = _replies(main_api, *writes)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", replies)]
    assert statuses == [200] * answered, replies
    assert replies.rsplit(b"HTTP/1.1 ", 1)[1].lower().count(b"connection: close") == 1
    assert b"smuggled" not in replies


def _rss_bytes(pid: int) -> int:
    """The resident memory of process `pid` (/proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_pipelined_requests_wait_as_bytes_not_as_requests(
    main_api_process: tuple[int, int],
) -> None:
    """uvicorn parsed every pipelined request in a read, and queued each with its ASGI state
    (about 2.9 KB a request; 20,000 of them held 49 MB of a 256 MiB pod): requests past a
    few queued now wait as the bytes they came in. All are answered, in order."""
    port, pid = main_api_process
    count = 10_000
    assert _statuses(port, GET * 10 + LAST_GET) == [200] * 11  # warm: first-use allocations
    before = _rss_bytes(pid)
    replies = _replies(port, GET * (count - 1) + LAST_GET)
    grown = _rss_bytes(pid) - before
    assert replies.count(b"HTTP/1.1 200 ") == count
    assert grown < 8 << 20, f"main-api grew {grown / 2**20:.1f} MiB for {count} pipelined requests"


def test_a_refusal_ends_the_connection_without_a_reset(main_api: int) -> None:
    """Closed with bytes of the client's unread, or receiving more after the close, the
    kernel resets the connection, which can erase answers the client has not read yet (RFC
    9112, 9.6). The server shuts its side, reads and drops what still comes for a moment,
    then closes: the client reads the answers and an orderly end."""
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    connection = _connect(main_api)
    connection.sendall(GET + oversized + b"x" * 100_000)
    time.sleep(0.3)  # the answers are written; the server reads no request after them
    connection.sendall(b"y" * 100_000)
    replies = b""
    while chunk := connection.recv(65536):  # a reset raises ConnectionResetError
        replies += chunk
    connection.close()
    assert [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", replies)] == [200, 431]


# An answer of about 18 KB (API_DOCS is on here): the sockets' buffers, a few MB on
# loopback, fill after a few hundred of them.
OPENAPI = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
PINNING = 1000


def _pinned(port: int) -> socket.socket:
    """A connection whose client has sent PINNING requests and reads no answer: the server
    answers until the sockets' buffers are full, then its answers wait."""
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", port))
    connection.sendall(OPENAPI * PINNING)
    return connection


def _read_to_end(connection: socket.socket, seconds: float) -> tuple[bytes, str]:
    """What the connection brings within `seconds`, and how it ended: "closed", "reset" or
    "open"."""
    connection.settimeout(seconds)
    replies = bytearray()
    try:
        while chunk := connection.recv(1 << 20):
            replies += chunk
    except ConnectionResetError:
        return bytes(replies), "reset"
    except TimeoutError:
        return bytes(replies), "open"
    return bytes(replies), "closed"


def test_a_client_that_reads_no_answer_is_dropped_after_the_send_timeout(main_api: int) -> None:
    """uvicorn has no timeout on a write: a client that pipelined requests and read none of
    the answers held the connection, an app's task and megabytes of buffers for as long as
    it liked (a review held one for 110 s), and made every graceful stop wait its timeout
    out. Once the answers wait in the server, the client has SEND_TIMEOUT_SECONDS to take
    some."""
    connection = _pinned(main_api)
    time.sleep(2 * SEND_TIMEOUT + 1)
    replies, end = _read_to_end(connection, 5.0)
    connection.close()
    answered = replies.count(b"HTTP/1.1 200 ")
    assert end in ("reset", "closed"), f"still open after {answered} of {PINNING} answers"
    assert 0 < answered < PINNING


def test_a_client_that_reads_its_answers_gets_them_all(main_api: int) -> None:
    """The same client, reading before the send timeout: every request answered (with
    the tail of the last answer, 12 MB in all)."""
    connection = _pinned(main_api)
    replies = bytearray()
    connection.settimeout(10.0)
    size = None  # of the PINNING answers, alike but for the date, once the first is in
    while size is None or len(replies) < size:
        chunk = connection.recv(1 << 20)
        assert chunk, f"closed after {replies.count(b'HTTP/1.1 200 ')} of {PINNING} answers"
        replies += chunk
        if size is None and (length := re.search(rb"content-length: (\d+)\r\n", replies)):
            head = replies.index(b"\r\n\r\n") + 4
            size = PINNING * (head + int(length[1]))
    connection.close()
    assert replies.count(b"HTTP/1.1 200 ") == PINNING
    assert len(replies) == size
