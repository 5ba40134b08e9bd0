"""A pool of keep-alive HTTP/1.1 connections to one upstream, for GET requests only.

main-api only ever sends GETs without a body to aux-service, so this speaks just that:
requests are written as bytes, replies are read by httptools (the parser uvicorn serves
with), and a connection is reused only after a complete reply that allows it. Measured on
the cached-read path (docs/performance.md), a call costs a fifth of aiohttp's CPU time.
"""

import asyncio
from dataclasses import dataclass, field
from typing import cast

import httptools


class UpstreamUnreachable(ConnectionError):
    """No reply came: refused, timed out connecting, or the connection closed first.

    Nothing was answered, so an idempotent request may be sent again.
    """


class UpstreamProtocolError(Exception):
    """The upstream's reply is not valid HTTP/1.1."""


@dataclass
class Reply:
    """A complete reply: status, headers (names in lower case) and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Connection(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Reply] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._keep_alive = False
        self.open = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"invalid HTTP reply: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(UpstreamUnreachable("the connection closed before a complete reply"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        reply = Reply(self._parser.get_status_code(), self._headers, b"".join(self._body))
        self._headers, self._body = {}, []
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(reply)
        if not self._keep_alive:
            self.close()

    async def get(self, request: bytes) -> Reply:
        """Send `request` and wait for the complete reply."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiter

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def close(self) -> None:
        """Close the connection (it is never reused after)."""
        self.open = False
        if self._transport is not None:
            self._transport.close()


class ConnectionPool:
    """At most `limit` connections to host:port, idle ones reused (most recent first)."""

    def __init__(self, host: str, port: int, limit: int, connect_timeout: float) -> None:
        self._host = host
        self._port = port
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self.connections: set[_Connection] = set()

    async def get(self, request: bytes, read_timeout: float) -> Reply:
        """Send `request` on a pooled connection; TimeoutError when no reply in `read_timeout`."""
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                async with asyncio.timeout(read_timeout):
                    reply = await connection.get(request)
            except BaseException:
                # Timed out, failed or cancelled: a late reply must not reach the next caller.
                self._discard(connection)
                raise
            if connection.open:
                self._idle.append(connection)
            else:
                self._discard(connection)
            return reply

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
            self.connections.discard(connection)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(_Connection, self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnreachable(f"cannot connect to {self._host}:{self._port}") from exc
        self.connections.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self.connections.discard(connection)

    def close(self) -> None:
        """Close every connection."""
        for connection in list(self.connections):
            self._discard(connection)
        self._idle.clear()
