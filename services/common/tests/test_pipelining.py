"""BoundedHttpToolsProtocol's queue of pipelined requests, driven in process.

The protocol is uvicorn's own, on a running event loop, with a transport that records what
is written (the stand-in for a socket: what is asserted is the protocol's queue, which no
client can see). The real server's answers to pipelined requests are tested in
services/main-api/tests/test_server_limits.py.
"""

import asyncio
import re
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from kontaxa_common.server import BoundedHttpToolsProtocol

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
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

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


def _connection(app: Gate, **limits: float) -> tuple[BoundedHttpToolsProtocol, RecordingTransport]:
    config = uvicorn.Config(app, lifespan="off", ws="none", log_config=None, access_log=False)
    protocol_class = type("Limited", (BoundedHttpToolsProtocol,), limits)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _answered(transport: RecordingTransport, count: int) -> list[int]:
    """The statuses written, once `count` are (or after 5 s)."""
    for _ in range(5000):
        if len(transport.statuses()) >= count:
            break
        await asyncio.sleep(0.001)
    return transport.statuses()


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


def test_a_graceful_stop_answers_the_held_requests_too() -> None:
    async def main() -> None:
        app = Gate()
        protocol, transport = _connection(app)
        protocol.data_received(GET * 21)
        await asyncio.sleep(0)
        assert len(protocol.pipeline) == protocol.max_pipelined
        protocol.shutdown()
        app.opened.set()
        assert await _answered(transport, 21) == [200] * 21
        for _ in range(100):
            if transport.closed:
                break
            await asyncio.sleep(0.001)
        assert transport.closed

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
