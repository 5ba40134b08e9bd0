"""BoundedHttpToolsProtocol driven in process: its queue of pipelined requests, its timer
while reading is paused, its head count across reads, upgrade requests with a body.

The protocol is uvicorn's own, on a running event loop, with a transport that records what
is written (the stand-in for a socket: what is asserted is the protocol's queue, which no
client can see). The real server's answers to pipelined requests are tested in
services/main-api/tests/test_server_limits.py.
"""

import asyncio
import itertools
import logging
import re
from typing import Any, ClassVar

import httptools
import hypothesis
import hypothesis.strategies as st
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from kontaxa_common.server import BoundedHttpToolsProtocol, _ChunkedBody

GET = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
GET_WITH_A_BODY = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
POST = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
)


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, whether it paused reading, whether it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.high_water: int | None = None  # set_write_buffer_limits's
        self.waiting = 0  # bytes of answers waiting for the client (get_write_buffer_size)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:  # as a socket's: nothing goes out once it is closed
            self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    def get_write_buffer_size(self) -> int:
        return self.waiting

    def can_write_eof(self) -> bool:
        return False  # a refusal closes at once (the real server's orderly end: test_server_limits)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def statuses(self) -> list[int]:
        return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", bytes(self.written))]


class Gate:
    """An ASGI app whose answers wait until `open` (the status is 405 for a POST)."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.opened.wait()
        status = 405 if scope["method"] == "POST" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class BodyLength:
    """An ASGI app that reads the whole request body and answers 200 with its length, after
    `work` seconds."""

    def __init__(self, work: float = 0.0) -> None:
        self.work = work

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await asyncio.sleep(self.work)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"body=%d" % len(body)})


def _connection(
    app: Any,
    base: type[BoundedHttpToolsProtocol] = BoundedHttpToolsProtocol,
    keep_alive: int = 5,
    transport: RecordingTransport | None = None,
    **limits: float,
) -> tuple[BoundedHttpToolsProtocol, RecordingTransport]:
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_config=None,
        access_log=False,
        timeout_keep_alive=keep_alive,
    )
    protocol_class = type("Limited", (base,), limits)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _answered(transport: RecordingTransport, count: int) -> list[int]:
    """The statuses written, once `count` are (or after 5 s)."""
    for _ in range(5000):
        if len(transport.statuses()) >= count:
            break
        await asyncio.sleep(0.001)
    return transport.statuses()


async def _closed(transport: RecordingTransport) -> bool:
    """Whether the connection is closed (within 1 s)."""
    for _ in range(1000):
        if transport.closed:
            break
        await asyncio.sleep(0.001)
    return transport.closed


def test_a_body_cannot_carry_requests_past_the_queue_s_limit() -> None:
    """A body piece ends where the body does: a one-byte body followed by 800 requests in the
    same read queued all 800 (the piece was cut at 32 KiB)."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        reads = GET + (GET_WITH_A_BODY + GET * 800) * 2 + (CHUNKED + GET * 400)
        protocol.data_received(reads)
        await asyncio.sleep(0)  # the first request's task starts and waits at the gate
        assert len(protocol.pipeline) == protocol.max_pipelined
        assert not transport.reading
        app.opened.set()
        statuses = await _answered(transport, 2004)
        assert statuses == [200] * 1603 + [405] + [200] * 400
        assert not transport.closed

    asyncio.run(main())


def test_a_request_held_midway_is_not_timed_out_while_it_waits() -> None:
    """A request whose body was held behind the queue waits on the answers ahead of it, not
    on the client: its timer ran on, and the connection closed with nothing answered."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app, head_timeout_seconds=0.2)
        for body in (POST, CHUNKED):
            # The first answer waits; seven queued, then the POST's head fills the queue.
            protocol.data_received(GET * 8 + body + GET)
            await asyncio.sleep(0.5)  # past the timeout
            assert not transport.closed
            app.opened.set()
            assert (await _answered(transport, 10))[-10:] == [200] * 8 + [405, 200]
            app.opened.clear()

    asyncio.run(main())


def test_a_graceful_stop_answers_the_queued_requests_not_the_held_ones() -> None:
    """A graceful stop parsed the held bytes with the queue's limit lifted, to answer them:
    one read of them queued about 7,000 requests (12.5 MB) per connection in a review, on
    connections whose client read no answer. Now the queued requests are answered and the
    connection closes; the client sends the others again (RFC 9112, 9.3.2)."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET * 21)
        await asyncio.sleep(0)
        assert len(protocol.pipeline) == protocol.max_pipelined
        protocol.shutdown()
        assert len(protocol.pipeline) == protocol.max_pipelined
        app.opened.set()
        assert await _closed(transport)
        assert transport.statuses() == [200] * (protocol.max_pipelined + 1)

    asyncio.run(main())


def test_a_graceful_stop_reads_a_held_body_to_its_end() -> None:
    """A request whose body was held midway, queued, waits for the rest of it: the stop
    parses the held bytes to the body's end, and no request after it."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength(work=0.01))
        # The first answer waits; seven queued, then the POST's head fills the queue.
        protocol.data_received(GET * 8 + POST[:-5])
        protocol.data_received(b"hello" + GET)
        assert protocol._held == b"hello" + GET
        protocol.shutdown()
        assert await _closed(transport)
        assert transport.statuses() == [200] * 9
        assert transport.written.endswith(b"body=5\r\n0\r\n\r\n")  # the last answer, whole

    asyncio.run(main())


def test_a_malformed_request_is_refused_after_the_answers_before_it() -> None:
    """uvicorn wrote its 400 at once, ahead of the answers to the requests pipelined before
    the malformed one, so a client reading in order took it for an earlier answer."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET * 12 + b"NOT HTTP AT ALL\r\n\r\n" + GET)
        await asyncio.sleep(0)
        assert transport.statuses() == []
        app.opened.set()
        assert await _answered(transport, 13) == [200] * 12 + [400]
        assert transport.written.endswith(b"Invalid HTTP request received.")
        assert transport.closed

    asyncio.run(main())


def test_a_url_uvicorn_cannot_split_is_refused_after_the_answers_before_it() -> None:
    """httptools passes some URLs that uvicorn then fails to split (`http://[`): that 400
    came at once, so the answer to the request before it was never written."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET + b"GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0)
        assert transport.statuses() == []
        app.opened.set()
        assert await _answered(transport, 2) == [200, 400]
        assert transport.closed

    asyncio.run(main())


def test_a_request_is_not_timed_while_the_server_reads_nothing() -> None:
    """uvicorn stops reading for a request queued behind another, and after 64 KiB of body
    its app has not read: the client cannot send meanwhile, so the request's timer waits
    too (it ran on, and the connection closed with nothing answered)."""
    head = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"

    async def main() -> None:
        for first, rest in (
            (head % 10, b"a" * 10),  # the body comes after the head, in a later read
            (head % 200_000 + b"a" * 100_000, b"a" * 100_000),  # past 64 KiB unread
        ):
            app = Gate()
            protocol, transport = _connection(app, head_timeout_seconds=0.2)
            protocol.data_received(GET + first)
            await asyncio.sleep(0.5)  # past the timeout, the first answer still waiting
            assert not transport.closed
            app.opened.set()
            protocol.data_received(rest)
            assert await _answered(transport, 2) == [200, 405]
            await asyncio.sleep(0.3)  # the next request's timer starts with its first byte
            assert not transport.closed

    asyncio.run(main())


def test_a_head_whose_end_began_in_the_read_before_is_counted_from_its_end() -> None:
    """A head's end (CRLF CRLF) split across two reads: the bytes of it in the second read
    were counted as the next head's, so a next head of exactly the limit was refused."""
    limit = 1024

    async def main() -> None:
        for cut in (1, 2, 3):
            app = Gate()
            app.opened.set()
            protocol, transport = _connection(app, max_head_bytes=limit)
            at_limit = GET[:-2] + b"X: " + b"a" * (limit - len(GET) - 5) + b"\r\n\r\n"
            assert len(at_limit) == limit
            protocol.data_received(GET[:-cut])
            protocol.data_received(GET[-cut:] + at_limit)
            assert await _answered(transport, 2) == [200, 200], cut
            assert not transport.closed

    asyncio.run(main())


class _RecordingFeeds(HttpToolsProtocol):
    """Records the size of each piece BoundedHttpToolsProtocol feeds uvicorn's protocol (mixed
    in below it, so its `super().data_received` comes here)."""

    fed: ClassVar[list[int]] = []

    def data_received(self, data: bytes) -> None:
        _RecordingFeeds.fed.append(len(data))
        super().data_received(data)


@pytest.mark.parametrize("data", [b"a" * 65536, b"\r\n" * 32768], ids=["letters", "blank-lines"])
def test_a_chunked_body_goes_to_the_parser_in_few_pieces(data: bytes) -> None:
    """A chunked body went in 256-byte slices, a parser call each: about 200 times the CPU of
    a body of known length. Then it was cut at each blank line (where it could end), so a
    body of blank lines went two bytes a parser call (0.8 s of CPU per MiB). It now goes
    whole up to its end, and the requests behind it still wait past the queue's limit."""
    recording = type("Recording", (BoundedHttpToolsProtocol, _RecordingFeeds), {})
    chunk = b"%x\r\n" % len(data) + data + b"\r\n"
    body = chunk * 16 + b"0\r\n\r\n"  # 1 MiB
    request = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    async def main() -> None:
        app = BodyLength()
        protocol, transport = _connection(app, base=recording)
        wire = request + GET * 100
        for start in range(0, len(wire), 65536):  # reads of 64 KiB, as a socket gives them
            _RecordingFeeds.fed = []
            protocol.data_received(wire[start : start + 65536])
            if start + 65536 <= len(request):  # a read of body alone
                assert len(_RecordingFeeds.fed) <= 2, start
            await asyncio.sleep(0)
            assert len(protocol.pipeline) <= protocol.max_pipelined
        assert (await _answered(transport, 101))[:2] == [200, 200]
        assert transport.written.startswith(b"HTTP/1.1 200 ")
        assert b"body=1048576" in transport.written
        assert transport.statuses() == [200] * 101

    asyncio.run(main())


CHUNKED_HEAD = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "last_chunk",
    [b"0\r\n\r\n", b"0;x=" + b"e" * 300 + b"\r\n\r\n", b"0\r\nX-Pad: " + b"p" * 300 + b"\r\n\r\n"],
    ids=["plain", "extension", "trailer"],
)
def test_what_follows_a_chunked_body_is_counted_and_queued_as_requests(last_chunk: bytes) -> None:
    """The piece with a chunked body's end stops there, however long its last chunk's line
    or trailers: a piece cut 256 bytes past the last chunk's 0 left the rest of the read to
    go whole, so the heads in it escaped the size limit and all queued past the limit."""
    chunked = CHUNKED_HEAD + b"5\r\nhello\r\n" + last_chunk
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET + chunked + GET * 1000)
        await asyncio.sleep(0)
        assert len(protocol.pipeline) == protocol.max_pipelined
        app.opened.set()
        assert await _answered(transport, 1002) == [200, 405] + [200] * 1000

        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET + chunked + oversized)
        app.opened.set()
        assert await _answered(transport, 3) == [200, 405, 431]
        assert transport.written.endswith(b"request head is too large\r\n")

    asyncio.run(main())


def test_pauses_a_client_brings_about_give_its_request_no_more_time() -> None:
    """uvicorn pauses reading at 64 KiB of body until the app reads it: a body sent in bursts
    of 70,000 bytes restarted the whole timeout at each, and held the connection for as
    long as the client liked. The time left is kept across a pause."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength(), head_timeout_seconds=0.3)
        protocol.data_received(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        for _ in range(15):  # 1.5 s of bursts
            if transport.closed:
                break
            protocol.data_received(b"a" * 70_000)
            await asyncio.sleep(0.1)
        assert transport.closed
        assert transport.statuses() == []

    asyncio.run(main())


UPGRADE_HEAD = (
    b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
)


def test_an_upgrade_request_s_body_reaches_its_app() -> None:
    """`curl --http2 -d` over http:// asks to switch with its POST. httptools skips an
    upgrade request's body and stops at the head, so the app read an empty body; now the
    body (by Content-Length, in one read or several) is passed on and answered over HTTP/1.1,
    and nothing after it is read."""

    async def main() -> None:
        request = UPGRADE_HEAD + b"Content-Length: 11\r\n\r\nhello world" + GET
        for cut in (len(request) - len(GET) - 11, len(request) - len(GET) - 5, len(request)):
            # The app works past the timeout: the request is in, its time stopped with it.
            protocol, transport = _connection(BodyLength(work=0.4), head_timeout_seconds=0.2)
            protocol.data_received(request[:cut])
            await asyncio.sleep(0.01)
            if request[cut:]:
                protocol.data_received(request[cut:])
            assert await _answered(transport, 1) == [200]
            await asyncio.sleep(0.01)
            assert b"\r\nbody=11\r\n" in transport.written, bytes(transport.written)
            assert transport.statuses() == [200]
            assert b"connection: close" in transport.written
            assert transport.closed

    asyncio.run(main())


def test_an_upgrade_request_with_a_chunked_body_is_refused() -> None:
    """A chunked body, which httptools would skip, cannot be passed on: 400 with why, after
    the answer before it, and the app never runs for it."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(
            GET + UPGRADE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        await asyncio.sleep(0)
        app.opened.set()
        assert await _answered(transport, 2) == [200, 400]
        assert transport.written.endswith(b"this server speaks HTTP/1.1")
        assert transport.closed

    asyncio.run(main())


def test_a_connection_answered_before_its_request_s_body_was_in_is_closed_when_idle() -> None:
    """An app may answer without reading the body; uvicorn's keep-alive timer, armed with
    the answer, was cancelled by the body's last bytes, and the idle connection stayed open
    for good."""

    async def main() -> None:
        app = Gate()
        app.opened.set()
        protocol, transport = _connection(app, keep_alive=1)
        protocol.data_received(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        assert await _answered(transport, 1) == [405]
        protocol.data_received(b"world")
        await asyncio.sleep(1.5)
        assert transport.closed

    asyncio.run(main())


def test_a_trailer_is_never_one_of_the_request_s_headers() -> None:
    """uvicorn appended a chunked body's trailers to the request's headers, which the app
    holds: a forged Authorization among them, and past the head's size limit."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        seen.append(list(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        protocol, transport = _connection(app)
        protocol.data_received(
            CHUNKED_HEAD + b"5\r\nhello\r\n0\r\nAuthorization: Bearer forged\r\n\r\n" + GET
        )
        assert await _answered(transport, 2) == [200, 200]
        assert all(name != b"authorization" for name, _ in seen[0]), seen[0]
        assert seen[1] == [(b"host", b"x")]

    asyncio.run(main())


def test_held_bytes_stay_one_read_while_apps_read_their_bodies() -> None:
    """An app's receive() resumes reading (uvicorn), and while bytes were held each read was
    added to them: held bytes grew a read per receive() (3.1 MB after 12 answers in the
    review). Reading stays paused while bytes are held."""
    post = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"

    async def main() -> None:
        protocol, transport = _connection(BodyLength(work=0.05))
        protocol.data_received(post * 40)
        for _ in range(20):
            await asyncio.sleep(0.01)
            assert protocol._held
            assert not transport.reading
        assert await _answered(transport, 40) == [200] * 40

    asyncio.run(main())


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n", 431),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (
            b"POST /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
    ],
    ids=["head-too-large", "malformed-head", "chunked-upgrade"],
)
def test_the_server_s_own_refusals_carry_the_date_as_every_answer(
    request_bytes: bytes, status: int
) -> None:
    """uvicorn's default headers (its `date`, refreshed each second) are on the refusals the
    server writes itself, after an answer that has them too (RFC 9110, 6.6.1: an origin
    server with a clock sends Date on every 4xx)."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength())
        date = (b"date", b"Fri, 04 Dec 2026 15:00:00 GMT")
        protocol.server_state.default_headers = [date]
        protocol.data_received(GET + request_bytes)
        assert await _answered(transport, 2) == [200, status]
        refusal = bytes(transport.written[transport.written.rindex(b"HTTP/1.1 %d" % status) :])
        assert b"\r\ndate: Fri, 04 Dec 2026 15:00:00 GMT\r\n" in refusal
        head, text = refusal.split(b"\r\n\r\n", 1)
        assert b"\r\ncontent-length: %d\r\n" % len(text) in head + b"\r\n"
        assert head.endswith(b"\r\nconnection: close")
        assert transport.closed

    asyncio.run(main())


def _reads(protocol: BoundedHttpToolsProtocol, wire: bytes, size: int) -> None:
    """Feed `wire` in reads of `size` bytes, the queue within its limit after each."""
    for start in range(0, len(wire), size):
        protocol.data_received(wire[start : start + size])
        assert len(protocol.pipeline) <= protocol.max_pipelined


def test_a_chunk_whose_data_looks_like_the_body_s_end_and_requests_is_one_body() -> None:
    """Chunk data holding a last chunk and requests is the body's, never requests."""
    data = b"0\r\n\r\n" + GET * 20
    request = CHUNKED_HEAD + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"

    async def main() -> None:
        protocol, transport = _connection(BodyLength())
        protocol.data_received(request + GET)
        assert await _answered(transport, 2) == [200, 200]
        await asyncio.sleep(0.01)
        assert transport.statuses() == [200, 200]
        assert b"body=%d" % len(data) in transport.written

    asyncio.run(main())


@pytest.mark.parametrize("size", [1, 2, 3, 7, 4096])
def test_chunked_bodies_split_anywhere_across_reads_end_where_they_end(size: int) -> None:
    """Size lines, chunk data, their CRLF, extensions and trailers split across reads at any
    byte: each body is read whole, and the requests behind it are counted and queued."""
    bodies = [
        b"1\r\na\r\n" * 50 + b"0\r\n\r\n",
        b"A;name=value\r\n" + b"b" * 10 + b"\r\n000\r\nX-Trailer: t\r\n\r\n",
        b"00010\r\n" + b"\r\n" * 8 + b"\r\n0\r\n\r\n",
    ]
    wire = b"".join(CHUNKED_HEAD + body + GET for body in bodies)

    async def main() -> None:
        protocol, transport = _connection(BodyLength())
        _reads(protocol, wire, size)
        assert await _answered(transport, 6) == [200] * 6
        assert re.findall(rb"body=(\d+)", bytes(transport.written)) == [
            b"50",
            b"0",
            b"10",
            b"0",
            b"16",
            b"0",
        ]

    asyncio.run(main())


_CHUNK_DATA = st.binary(max_size=40) | st.sampled_from(
    [b"\r\n\r\n", b"0\r\n\r\n", b"\r\n0\r\n\r\n" + GET, b"\n\n\r", GET]
)


@st.composite
def _chunked_bodies(draw: st.DrawFn) -> tuple[bytes, int]:
    """A well-formed chunked body (sizes in either case, padded with zeros, extensions,
    trailers; data holding blank lines, last chunks and requests) and its data's length."""
    body, length = b"", 0
    for data in draw(st.lists(_CHUNK_DATA.filter(bool), max_size=6)):
        size = draw(st.sampled_from(["%x", "%X", "000%x"])) % len(data)
        extension = draw(st.sampled_from([b"", b";a=b", b';q="x y"']))
        body += size.encode() + extension + b"\r\n" + data + b"\r\n"
        length += len(data)
    trailers = draw(st.sampled_from([b"", b"X-T: 1\r\n", b"X-T: 1\r\nX-U: \r\n\r\n"[:-2]]))
    return body + b"0\r\n" + trailers + b"\r\n", length


@hypothesis.given(
    st.lists(_chunked_bodies(), min_size=1, max_size=4), st.integers(min_value=1, max_value=97)
)
@hypothesis.settings(max_examples=150, database=None, derandomize=True, deadline=None)
def test_any_chunked_body_ends_where_the_parser_ends_it(
    bodies: list[tuple[bytes, int]], read_size: int
) -> None:
    """The chunk sizes followed here agree with llhttp's framing: a piece fed to the parser
    ends where each body ends (a piece running past it would carry the requests behind it
    past the queue's limit and the head count), each body is its request's whole, and each
    request behind it is answered, whatever the reads' size."""
    wire, body_ends = b"", set()
    for body, _ in bodies:
        wire += CHUNKED_HEAD + body
        body_ends.add(len(wire))
        wire += GET
    recording = type("Recording", (BoundedHttpToolsProtocol, _RecordingFeeds), {})

    async def main() -> None:
        protocol, transport = _connection(BodyLength(), base=recording)
        _RecordingFeeds.fed = []
        _reads(protocol, wire, read_size)
        piece_ends = set(itertools.accumulate(_RecordingFeeds.fed))
        assert body_ends <= piece_ends
        assert await _answered(transport, 2 * len(bodies)) == [200] * (2 * len(bodies))
        lengths = re.findall(rb"body=(\d+)", bytes(transport.written))
        assert lengths == [part for _, n in bodies for part in (b"%d" % n, b"0")]
        assert not transport.closed

    asyncio.run(main())


def test_a_malformed_body_is_refused_after_the_answers_before_it() -> None:
    """A malformed chunked body behind a request not yet answered: uvicorn wrote its 400 at
    once and closed, so the earlier request's answer was lost and the 400 read as its."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET * 3 + CHUNKED_HEAD + b"zz\r\n" + GET)
        await asyncio.sleep(0)
        assert transport.statuses() == []
        assert not transport.closed
        app.opened.set()
        assert await _answered(transport, 4) == [200, 200, 200, 400]
        assert transport.written.endswith(b"Invalid HTTP request received.")
        assert transport.closed
        await asyncio.sleep(0.01)
        assert transport.statuses() == [200, 200, 200, 400]

    asyncio.run(main())


def test_a_malformed_body_of_the_request_being_answered_is_refused_at_once() -> None:
    """Every request before it answered, the 400 goes at once (its app waits for a body
    that cannot come)."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength())
        protocol.data_received(GET + CHUNKED_HEAD + b"5\r\nhel")
        assert await _answered(transport, 1) == [200]
        protocol.data_received(b"lo\r\nzz\r\n")
        assert await _answered(transport, 2) == [200, 400]
        assert transport.closed

    asyncio.run(main())


def test_a_request_answered_before_its_malformed_body_gets_no_second_answer() -> None:
    """uvicorn wrote its 400 after the answer already sent, and a client that had sent a
    request behind it read the 400 as that one's answer; the connection closes instead."""

    async def main() -> None:
        app = Gate()
        app.opened.set()  # answers without reading the body
        protocol, transport = _connection(app)
        protocol.data_received(CHUNKED_HEAD + b"5\r\nhel")
        assert await _answered(transport, 1) == [405]
        protocol.data_received(b"lo\r\nzz\r\n" + GET)
        await asyncio.sleep(0.01)
        assert transport.statuses() == [405]
        assert transport.closed

    asyncio.run(main())


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_chunked_body_after_a_head_end_split_across_reads_is_followed_from_its_start(
    cut: int,
) -> None:
    """A head whose end (CRLF CRLF) is split across two reads is cut at that end, so the
    body is followed from its first byte: begun there mid-size-line, a follower read chunk
    data as framing, and the requests in the chunk's data passed the queue's limit (101
    queued against 8 in a review of a former follower)."""
    data = b"0\r\n\r\n" + GET * 100
    chunked = CHUNKED_HEAD + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        at = len(GET) + len(CHUNKED_HEAD) - cut
        wire = GET + chunked + GET * 20 + oversized
        protocol.data_received(wire[:at])
        protocol.data_received(wire[at:])
        await asyncio.sleep(0)
        assert len(protocol.pipeline) <= protocol.max_pipelined
        app.opened.set()
        assert await _answered(transport, 23) == [200, 405] + [200] * 20 + [431]

    asyncio.run(main())


@pytest.mark.parametrize(
    "size_line",
    [b"0" * 40 + b"%x", b"%x;" + b"e" * 40 + b"=v", b"%X;a=" + b'"' + b"\\q" * 20 + b'"'],
    ids=["zeros", "extension", "quoted-extension"],
)
def test_a_long_size_line_split_across_reads_keeps_its_size(size_line: bytes) -> None:
    """A size line longer than a follower kept across reads (20 bytes, in a review of a
    former one) lost its middle there, and with it the chunk's size: the rest of the read
    went to the parser as one piece, the requests in it past the queue's limit and a 60 KB
    head answered 200. Split at each of its bytes, its chunk and the requests behind it are
    each read as they are."""
    data = b"0\r\n\r\n" + GET * 20
    line = size_line.replace(b"%x", b"%x" % len(data)).replace(b"%X", b"%X" % len(data))
    chunked = CHUNKED_HEAD + line + b"\r\n" + data + b"\r\n0\r\n\r\n"
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n"

    async def main() -> None:
        for at in range(len(CHUNKED_HEAD), len(CHUNKED_HEAD) + len(line) + 2):
            protocol, transport = _connection(BodyLength())
            wire = chunked + GET * 20 + oversized
            protocol.data_received(wire[:at])
            protocol.data_received(wire[at:])
            assert len(protocol.pipeline) <= protocol.max_pipelined, at
            assert await _answered(transport, 22) == [200] * 21 + [431], at
            assert bytes(transport.written).count(b"body=%d" % len(data)) == 1, at

    asyncio.run(main())


def test_a_malformed_body_of_a_request_being_answered_cuts_its_answer_short() -> None:
    """uvicorn wrote its 400 into the answer its app had begun (a client would read its
    status line as answer data); the connection closes, the answer cut short."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"begun;", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    async def main() -> None:
        protocol, transport = _connection(app)
        protocol.data_received(CHUNKED_HEAD + b"5\r\nhel")
        await asyncio.sleep(0.01)
        assert transport.written.endswith(b"begun;\r\n")
        protocol.data_received(b"lo\r\nzz\r\n")
        await asyncio.sleep(0.01)
        assert transport.closed
        assert transport.statuses() == [200]
        assert transport.written.endswith(b"begun;\r\n")

    asyncio.run(main())


@pytest.mark.parametrize("read_size", [1, 7, 4096])
def test_trailers_are_bounded_as_a_head_is(read_size: int) -> None:
    """A chunked body's trailers went to the parser unbounded (httptools copies a header's
    value so far at each read: 79 s of CPU for 128 MiB of one trailer, in a review). They
    may take `max_head_bytes` with their blank line: at the limit the request is answered,
    one byte over it gets 431, after the answer before it, and nothing after it is read."""
    limit = 1024

    def chunked(trailers_size: int) -> bytes:
        field = b"X-Pad: " + b"p" * (trailers_size - len(b"X-Pad: \r\n\r\n")) + b"\r\n"
        return CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n" + field + b"\r\n"

    async def main() -> None:
        protocol, transport = _connection(BodyLength(), max_head_bytes=limit)
        _reads(protocol, GET + chunked(limit) + GET, read_size)
        assert await _answered(transport, 3) == [200, 200, 200]
        assert not transport.closed

        protocol, transport = _connection(BodyLength(), max_head_bytes=limit)
        _reads(protocol, GET + chunked(limit + 1) + GET, read_size)
        assert await _answered(transport, 2) == [200, 431]
        assert transport.written.endswith(b"request trailers are too large\r\n")
        assert transport.closed

    asyncio.run(main())


def test_a_trailer_without_end_is_refused_before_the_parser_gets_more_than_the_limit() -> None:
    """1 MiB of one trailer in 64 KiB reads: refused within the first read past the limit,
    the parser fed no more of it than the limit."""
    recording = type("Recording", (BoundedHttpToolsProtocol, _RecordingFeeds), {})

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app, base=recording)
        _RecordingFeeds.fed = []
        protocol.data_received(GET + CHUNKED_HEAD + b"0\r\nX: ")
        for _ in range(16):
            protocol.data_received(b"a" * 65536)
        fed = sum(_RecordingFeeds.fed)
        assert fed <= len(GET + CHUNKED_HEAD) + protocol.max_head_bytes
        app.opened.set()
        assert await _answered(transport, 2) == [200, 431]
        assert transport.closed

    asyncio.run(main())


def test_blank_lines_before_requests_go_to_the_parser_in_few_pieces() -> None:
    """The parser skips CR and LF before a request; a run of them went two bytes a piece
    (each blank line looked like a head's end), a parser call each."""
    recording = type("Recording", (BoundedHttpToolsProtocol, _RecordingFeeds), {})
    wire = (b"\r\n" * 16000 + GET) * 8

    async def main() -> None:
        protocol, transport = _connection(BodyLength(), base=recording)
        _RecordingFeeds.fed = []
        for start in range(0, len(wire), 65536):
            protocol.data_received(wire[start : start + 65536])
            await asyncio.sleep(0)
        assert await _answered(transport, 8) == [200] * 8
        assert len(_RecordingFeeds.fed) <= 8 * 2 + len(wire) // 65536 + 1

        protocol, transport = _connection(BodyLength())
        protocol.data_received(b"\r\n" * (protocol.max_head_bytes // 2) + GET)
        assert await _answered(transport, 1) == [431]

    asyncio.run(main())


def test_a_graceful_stop_parses_no_request_after_those_read() -> None:
    """After a graceful stop had parsed the held requests, the queue's limit stayed lifted:
    each read went whole to the parser (276,697 requests queued on one connection in a
    review), after the last request to be answered. Now nothing after those is parsed, and
    the connection closes after their answers."""

    recording = type("Recording", (BoundedHttpToolsProtocol, _RecordingFeeds), {})

    async def main() -> None:
        protocol, transport = _connection(BodyLength(work=0.001), base=recording)
        protocol.data_received(GET * 20)
        assert len(protocol.pipeline) == protocol.max_pipelined
        _RecordingFeeds.fed = []
        protocol.shutdown()
        for _ in range(50):  # reads, paused or not (a read in flight at the pause comes)
            protocol.data_received(GET * 100)
            assert _RecordingFeeds.fed == []
            await asyncio.sleep(0.002)
        assert await _closed(transport)
        assert transport.statuses() == [200] * (protocol.max_pipelined + 1)

    asyncio.run(main())


def test_a_graceful_stop_reads_the_body_being_read_to_its_end() -> None:
    """Its app waits for it: the rest of a body in flight at the stop is read and the
    request answered; a request after it is not parsed."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength())
        protocol.data_received(CHUNKED_HEAD + b"5\r\nhel")
        await asyncio.sleep(0.01)
        protocol.shutdown()
        assert transport.reading
        protocol.data_received(b"lo\r\n0\r\n\r\n" + GET)
        assert await _answered(transport, 1) == [200]
        assert b"body=5" in transport.written
        await asyncio.sleep(0.01)
        assert transport.statuses() == [200]
        assert transport.closed

    asyncio.run(main())


@pytest.mark.parametrize(
    ("refused", "status"),
    [(CHUNKED_HEAD + b"0\r\nX: " + b"a" * 40_000, 431), (b"BAD\r\n\r\n", 400)],
    ids=["trailers-too-large", "malformed-head"],
)
def test_a_graceful_stop_sends_the_refusal_waiting_behind_answers(
    refused: bytes, status: int
) -> None:
    """uvicorn's stop closed the connection after the answer before a refusal still
    waiting for it, so the refusal never went out (a review)."""

    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET + refused)
        protocol.shutdown()
        app.opened.set()
        assert await _answered(transport, 2) == [200, status]
        assert await _closed(transport)

    asyncio.run(main())


@pytest.mark.parametrize(
    "after",
    [b"\r\n", GET[:10], CHUNKED_HEAD + b"5\r\nhe"],
    ids=["blank-line", "part-of-a-head", "part-of-a-queued-body"],
)
def test_a_request_out_of_time_closes_the_connection_after_the_answers_before_it(
    after: bytes,
) -> None:
    """A next request (or a blank line some clients send after a body) in part when the
    head timeout fired closed the connection at once: the answers still being worked on
    were lost. They go out first now; the request out of time gets none."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength(work=0.3), head_timeout_seconds=0.1)
        protocol.data_received(GET + GET + after)
        await asyncio.sleep(0.2)  # the timeout has passed; the answers are being worked on
        assert not transport.closed
        assert await _answered(transport, 2) == [200, 200]
        assert await _closed(transport)
        assert transport.statuses() == [200, 200]

    asyncio.run(main())


def test_reading_stays_paused_while_a_refusal_waits() -> None:
    """An app's receive() resumed reading while a refusal waited for its answer: each read
    was dropped unparsed, but read (a review)."""

    async def main() -> None:
        protocol, transport = _connection(BodyLength(work=0.05))
        oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
        protocol.data_received(POST + oversized)
        for _ in range(20):
            assert not transport.reading
            await asyncio.sleep(0.005)
        assert await _answered(transport, 2) == [200, 431]
        assert await _closed(transport)

    asyncio.run(main())


class _HalfClosingTransport(RecordingTransport):
    """A transport that can shut its side (a TCP socket's), recording that it did."""

    def __init__(self, unsent: int = 0) -> None:
        super().__init__()
        self.eof = False
        self.waiting = unsent  # bytes the client has not taken yet

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True


@pytest.mark.parametrize(
    ("more", "unsent"), [(b"", 0), (b"x" * 1000, 0), (b"", 1)], ids=["time", "bytes", "unread"]
)
def test_a_refused_connection_ends_in_order(more: bytes, unsent: int) -> None:
    """After the answers and the refusal, the server shuts its side, reads and drops what
    still comes (closed with it unread, the kernel reset the connection: see
    test_server_limits), and closes after `linger_seconds`, or once `linger_bytes` came;
    it aborts then if the client has not even taken the answers (a close waits for them).
    uvicorn's keep-alive timer, armed with the last answer, does not cut it short."""
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"

    async def main() -> None:
        transport = _HalfClosingTransport(unsent)
        protocol, _ = _connection(
            BodyLength(), keep_alive=0, transport=transport, linger_seconds=0.2, linger_bytes=500
        )
        protocol.data_received(GET + oversized)
        assert await _answered(transport, 2) == [200, 431]
        assert transport.eof
        assert transport.reading
        assert not transport.closed
        protocol.data_received(GET + more)  # dropped, never a request
        if more:
            assert transport.closed
        await asyncio.sleep(0.1)
        assert transport.statuses() == [200, 431]
        assert transport.closed == bool(more)
        assert await _closed(transport)
        assert transport.aborted == bool(unsent)

    asyncio.run(main())


def test_a_graceful_stop_closes_a_connection_ending_in_order() -> None:
    """Its answers are written: the stop does not wait for the end in order (it paused
    reading, so the client's end was never seen, and waited the whole time)."""

    async def main() -> None:
        transport = _HalfClosingTransport()
        protocol, _ = _connection(BodyLength(), transport=transport)
        protocol.data_received(GET + b"NOT HTTP\r\n\r\n")
        assert await _answered(transport, 2) == [200, 400]
        assert transport.eof
        assert not transport.closed
        protocol.shutdown()
        assert transport.closed

    asyncio.run(main())


class _Completion:
    """httptools' parser callbacks: whether a request is complete."""

    def __init__(self) -> None:
        self.complete = False

    def on_message_complete(self) -> None:
        self.complete = True


def _parser_reading(body: bytes) -> tuple[str, int]:
    """How llhttp (httptools' parser, as uvicorn sets it) reads `body` after a chunked
    request's head, a byte at a time: ("end", bytes to the body's end), ("error", the byte
    it refuses), or ("more", len(body))."""
    completion = _Completion()
    parser = httptools.HttpRequestParser(completion)
    parser.set_dangerous_leniencies(lenient_data_after_close=True)  # uvicorn's
    parser.feed_data(CHUNKED_HEAD)
    for at in range(len(body)):
        try:
            parser.feed_data(body[at : at + 1])
        except httptools.HttpParserError:
            return "error", at
        if completion.complete:
            return "end", at + 1
    return "more", len(body)


def _followed_end(body: bytes, cuts: list[int]) -> int | None:
    """Where `_ChunkedBody` ends `body` read in parts cut at `cuts` (bytes into it), or
    None; each part before that end is the body's whole. Each part comes after bytes of
    the read that are not the body's (a request before it), as in a server's reads."""
    chunks = _ChunkedBody(BoundedHttpToolsProtocol.max_head_bytes)
    start = 0
    before = b"\r\n\r\n\r"
    for cut in [*sorted(set(cuts)), len(body)]:
        part = body[start:cut]
        if part:
            taken = chunks.span(before + part, len(before))
            if chunks.ended:
                return start + taken
            assert taken == len(part)
        start = cut
    return None


_FRAMING_BYTES = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"0", b"1", b"a", b"F", b";", b"=", b" ", b"\t", b'"', b"\\", b"x"]
)


@st.composite
def _near_chunked_bodies(draw: st.DrawFn) -> bytes:
    """A well-formed chunked body with up to three edits of framing bytes (most no longer
    well formed), or framing bytes alone."""
    if draw(st.booleans()):
        body = bytearray(draw(_chunked_bodies())[0])
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(body)))
            removed = draw(st.integers(0, 2))
            body[at : at + removed] = draw(_FRAMING_BYTES)
        return bytes(body)
    return b"".join(draw(st.lists(_FRAMING_BYTES, max_size=40)))


_CUTS = st.lists(st.integers(0, 200), max_size=6) | st.integers(1, 3).map(
    lambda step: list(range(step, 300, step))  # reads of one, two or three bytes
)


@hypothesis.given(_near_chunked_bodies(), _CUTS)
@hypothesis.settings(max_examples=3000, database=None, derandomize=True, deadline=None)
def test_chunked_framing_is_followed_as_the_parser_reads_it(body: bytes, cuts: list[int]) -> None:
    """Differential against llhttp itself, on bodies well formed and not, read in parts cut
    anywhere: where the parser ends a body, so does `_ChunkedBody`, and where `_ChunkedBody`
    ends one, the parser has ended it or refused it by then (its pieces never run past a
    body's end; a follower that ends one early costs a 500, never a request)."""
    cuts = [cut for cut in cuts if cut <= len(body)]
    reading, at = _parser_reading(body)
    followed = _followed_end(body, cuts)
    if reading == "end":
        assert followed == at
    if followed is not None:
        assert reading == "end" or (reading == "error" and at < followed)


class _PastTheEnd(BoundedHttpToolsProtocol):
    """Fault injection: a chunked body's pieces run to the read's end, past the body's."""

    def _body_piece(self, data: bytes, pos: int) -> int:
        return len(data) - pos if self._body_left is None else super()._body_piece(data, pos)


class _EndsEarly(BoundedHttpToolsProtocol):
    """Fault injection: a chunked body's end is found at its first byte."""

    def _body_piece(self, data: bytes, pos: int) -> int:
        self._chunks.ended = True
        return 1


@pytest.mark.parametrize(
    ("faulty", "app", "statuses"),
    [
        (_PastTheEnd, Gate, [200, 405, 500]),  # the next request's head is not parsed
        (_EndsEarly, Gate, [200, 500]),  # the request, queued, is taken off the queue
        (_EndsEarly, BodyLength, [200, 500]),  # its app, reading its body, is not waited for
    ],
    ids=["past-the-end", "early-queued", "early-running"],
)
def test_pieces_out_of_step_with_the_parser_refuse_the_connection(
    faulty: type[BoundedHttpToolsProtocol],
    app: type[Gate | BodyLength],
    statuses: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Were the pieces ever out of step with the parser's requests (a defect), the requests
    behind would escape the queue's limit and the head count: the connection is refused
    instead (500 after the answers before it, nothing more parsed), and the error logged."""

    async def main() -> None:
        application = app()
        protocol, transport = _connection(application, base=faulty)
        protocol.data_received(GET + CHUNKED_HEAD)
        await asyncio.sleep(0.01)  # Gate: both wait; BodyLength: GET answered, POST's app runs
        protocol.data_received(b"5\r\nhello\r\n0\r\n\r\n" + GET * 100)
        await asyncio.sleep(0)
        assert len(protocol.pipeline) <= protocol.max_pipelined
        if isinstance(application, Gate):
            application.opened.set()
        assert await _answered(transport, len(statuses)) == statuses
        await asyncio.sleep(0.01)
        assert transport.statuses() == statuses
        assert transport.written.endswith(b"lost track of this connection's requests\r\n")
        assert transport.closed

    with caplog.at_level(logging.ERROR, logger="kontaxa_common.server"):
        asyncio.run(main())
    assert "lost track of where its requests end" in caplog.text


def test_answers_the_client_does_not_take_are_timed_from_the_first_byte_that_waits() -> None:
    """The transport's default paused writing only once 64 KiB waited: less, at a close,
    waited for a client that read nothing without end."""

    async def main() -> None:
        _, transport = _connection(Gate())
        assert transport.high_water == 0

    asyncio.run(main())


@pytest.mark.parametrize("progress", [False, True], ids=["none", "some"])
def test_answers_that_wait_without_progress_drop_the_connection(progress: bool) -> None:
    """uvicorn waited for a client to take its answers without end. The send timer runs from
    the pause: the connection is dropped when no byte went in `send_timeout_seconds`; one that
    went gives the client as long again."""

    async def main() -> None:
        protocol, transport = _connection(Gate(), send_timeout_seconds=0.1)
        transport.waiting = 1000
        protocol.pause_writing()
        await asyncio.sleep(0.07)
        if progress:
            transport.waiting = 999
        await asyncio.sleep(0.07)  # the timer has fired
        assert transport.aborted is not progress
        await asyncio.sleep(0.1)  # and fired again: no byte went since
        assert transport.aborted

    asyncio.run(main())


def test_answers_the_client_took_stop_the_send_timer() -> None:
    async def main() -> None:
        protocol, transport = _connection(Gate(), send_timeout_seconds=0.05)
        for _ in range(3):
            transport.waiting = 1000
            protocol.pause_writing()
            await asyncio.sleep(0.03)
            transport.waiting = 0
            protocol.resume_writing()
        await asyncio.sleep(0.1)
        assert not transport.closed
        transport.waiting = 1000
        protocol.pause_writing()
        protocol.connection_lost(None)  # the timer goes with the connection
        await asyncio.sleep(0.1)
        assert not transport.aborted

    asyncio.run(main())
