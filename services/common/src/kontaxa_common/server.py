"""Run a service under uvicorn with the settings every service shares.

uvicorn (0.54) reads a request head of any size and for any time: its httptools protocol
feeds every byte to the parser before the app sees a header, starts no timer on a new
connection, and cancels its keep-alive timer on any byte, so a client can hold a connection
with an idle socket or one header byte a second, or make it parse 64 MiB of header first.
`BoundedHttpToolsProtocol` bounds each head where it is read: its size (431 and close, after
the replies to requests pipelined before it; pipelined heads in one read count each on its own) and
the time to receive the request, head and body (close, after the answers to the requests
before it), from the connection's first byte or a
request's first byte (a body dripped a byte at a time would hold the connection too), while
the server reads (not while uvicorn pauses reading: a request queued behind another, a body
its app has not read yet).
The middleware's own 431 (kontaxa_common.middleware) stays the finer check of what was read.
A request asking to switch protocols (`Connection: Upgrade`; the services speak no other) is
answered over HTTP/1.1 and its connection closed after the answer, nothing after it read:
uvicorn alone went on parsing past its head, and answered its body as a request of its own
(encode/uvicorn#2722). Its body (`curl --http2 -d` sends one), which httptools skips, is
passed on to the app by its Content-Length; a chunked one is refused (400). Pipelined
requests are parsed only while few wait for their answer (`max_pipelined`); the bytes behind
them wait as they came, reading paused, untimed (they wait on answers, not on the client);
a graceful stop answers the queued ones, and the client sends the held ones again. To that
end each read goes to the parser in pieces that end no later than the parser ends a request
(a chunked body's end found from its framing, `_ChunkedBody`); were a piece ever to run past
one, the connection is refused (500) and the error logged. A chunked body's trailers are
bounded as a head is (431), and dropped (uvicorn added them to the request's headers). A
connection the server refuses or times out ends after the answers before, and in order
(`_linger`), not with a reset. Answers the client does not take (the socket's buffers
full) wait for it at most `send_timeout_seconds` without progress; then the connection is
dropped (`_send_stalled`): uvicorn alone held it, and the app's task, for as long as the
client read nothing.

The Prometheus exposition has a listener of its own (`metrics_listener`, METRICS_PORT): a
second uvicorn server on the app's event loop, so the app port (the one a Service and an
Ingress expose) never serves it, and no thread competes with the app for the GIL.

`serve` freezes the garbage collector's view of everything built before the first request
(`build_frozen`): measured in docs/performance.md, that removed main-api's tail. It also puts
the process's threads under SCHED_BATCH (`schedule_in_batches`, CPU_BATCH_SCHEDULING).
"""

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from prometheus_client import make_asgi_app
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from kontaxa_common.metrics import Metrics
from kontaxa_common.settings import ServiceSettings

logger = logging.getLogger(__name__)

# A refusal the server writes itself (`_refusal_bytes`): its status and its text; None
# closes the connection with no answer (a request that did not come in time).
_Refusal = tuple[int, bytes] | None
_TOO_LARGE: _Refusal = (431, b"request head is too large\r\n")
_TRAILERS_TOO_LARGE: _Refusal = (431, b"request trailers are too large\r\n")
_OUT_OF_STEP: _Refusal = (500, b"the server lost track of this connection's requests\r\n")


class _ReadingFlow(FlowControl):
    """uvicorn's flow control, telling the protocol when reading stops and starts again: a
    request's time runs only while the server reads it (uvicorn pauses reading for a request
    queued behind another and for 64 KiB of body the app has not read)."""

    def __init__(self, transport: asyncio.Transport, protocol: "BoundedHttpToolsProtocol") -> None:
        super().__init__(transport)
        self._protocol = protocol

    def pause_reading(self) -> None:
        if not self.read_paused:
            super().pause_reading()
            self._protocol._pause_request_timer()

    def resume_reading(self) -> None:
        # Not while bytes are held: they are parsed, and reading resumed, as answers go out
        # (uvicorn resumes at each `receive()` of an app, and each read was held on top).
        if self.read_paused and not self._protocol._reading_held():
            super().resume_reading()
            self._protocol._reading_resumed()


class _LostTrack(Exception):
    """Raised in a parser callback to stop the parser (`on_message_begin`)."""


# A chunked body's framing (RFC 9112 7.1) as llhttp reads it (src/llhttp/http.ts, v9.4,
# which httptools 0.9 bundles), with none of the leniencies that touch it (uvicorn sets only
# `lenient_data_after_close`). A size line: hex digits (a uint64: past it, an error), then
# anything up to the line's end, its first LF (every other way there is an error). Size 0
# is the last chunk: trailer lines follow, each ending in CRLF (a CR elsewhere is an error),
# up to an empty one, so the body ends at the first CRLF CRLF from the last chunk's line's
# CRLF. Otherwise that many bytes of data, then CRLF (exactly), then the next size line.
# Where the parser finds an error, what is followed here no longer matters: it parses
# nothing more of the connection.
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")
_LINE_ENDS = re.compile(rb"[\r\n]*")  # what llhttp skips before a request
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]*+)[^\n]*+\n")  # possessive: no backtracking
_SIZE_OVERFLOW = 2**64


class _ChunkedBody:
    """Where a chunked request body ends: its framing followed a read at a time (`span`),
    no more than three of its bytes kept. The parser's framing, not a search for a blank
    line (chunk data may hold any, and cutting at each sent a body of blank lines to the
    parser two bytes a call)."""

    __slots__ = (
        "_in_digits",
        "_left",
        "_size",
        "_trailer_room",
        "_trailers",
        "ended",
        "max_trailer_bytes",
        "too_large",
    )

    def __init__(self, max_trailer_bytes: int) -> None:
        self.max_trailer_bytes = max_trailer_bytes  # the trailers and their blank line at most
        self.reset()

    def reset(self) -> None:
        """A new body begins, at its first size line."""
        self._size = 0  # of the chunk whose size line is being read
        self._in_digits = True  # that line's leading hex digits are being read
        self._left = 0  # of a chunk's data and its CRLF, not yet read
        self._trailers = b""  # once the last chunk's line is read: its last bytes (three)
        self._trailer_room = self.max_trailer_bytes  # what the trailers may still take
        self.ended = False
        self.too_large = False  # the trailers go past `max_trailer_bytes`

    def span(self, data: bytes, pos: int) -> int:
        """How many bytes of `data` from `pos` are the body's: all, or up to its end (or
        `too_large` is set)."""
        end = len(data)
        i = pos
        while i < end:
            if self._left:  # chunk data, then CRLF
                step = min(self._left, end - i)
                self._left -= step
                i += step
            elif self._trailers:
                return i - pos + self._trailers_span(data, i)
            elif self._in_digits and (line := _SIZE_LINE.match(data, i)):  # a whole line
                i = line.end()
                self._line_read(_grown(self._size, line[1]))
            else:  # a size line, to end in a read to come
                if self._in_digits:
                    digits_end = _HEX_DIGITS.match(data, i).end()  # type: ignore[union-attr]
                    self._size = _grown(self._size, data[i:digits_end])
                    i = digits_end
                    if i == end:
                        break
                    self._in_digits = False
                line_end = data.find(b"\n", i)
                if line_end < 0:
                    break
                i = line_end + 1
                self._line_read(self._size)
        return end - pos

    def _line_read(self, size: int) -> None:
        """A size line is read: its chunk's data and CRLF follow, or (size 0) the trailers,
        after the line's CRLF."""
        self._size, self._in_digits = 0, True
        if size:
            self._left = size + 2
        else:
            self._trailers = b"\r\n"

    def _trailers_span(self, data: bytes, pos: int) -> int:
        """In the trailers: how many bytes of `data` from `pos` are the body's. They are
        bounded as a head is: unbounded, they reached the parser whole (httptools copies a
        header's value so far at each read: 79 s of CPU for 128 MiB of one trailer)."""
        kept, room = self._trailers, self._trailer_room
        end = _blank_line_end(kept, data, pos, room)
        if end >= 0:
            self.ended = True
            return end
        rest = len(data) - pos
        if rest >= room:  # their end cannot come within the limit
            self.too_large = True
            return 0
        self._trailers = (kept + data[max(pos, len(data) - 3) :])[-3:]
        self._trailer_room -= rest
        return rest


def _blank_line_end(kept: bytes, data: bytes, pos: int, room: int) -> int:
    """How many bytes of `data` from `pos` run to the end of the first blank line (CRLF
    CRLF), one begun in `kept` (the three bytes before, at most) or not, when that is no
    more than `room`; else -1."""
    straddling = (kept + data[pos : pos + 3]).find(b"\r\n\r\n")
    if straddling >= 0:
        size = straddling + 4 - len(kept)
        return size if size <= room else -1
    end = data.find(b"\r\n\r\n", pos, pos + room)
    return end + 4 - pos if end >= 0 else -1


def _grown(size: int, digits: bytes) -> int:
    """A chunk size read so far, with hex `digits` after it (at most `_SIZE_OVERFLOW`)."""
    if not size and len(digits) <= 16:
        return int(digits or b"0", 16)
    if size:
        digits = b"%x" % size + digits
    digits = digits.lstrip(b"0")
    if len(digits) > 16:
        return _SIZE_OVERFLOW
    return int(digits or b"0", 16)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded in size, and the request
    (head and body) in time."""

    max_head_bytes = 32 * 1024
    head_timeout_seconds = 10.0
    # Requests parsed and queued behind the one being answered at most; the bytes after them
    # wait unparsed (`_held`) until the queue is shorter. uvicorn alone parsed every request
    # of each read and queued it with its ASGI state, about 2.9 KB each.
    max_pipelined = 8
    # How long, and how much, a refused connection, its side shut, reads and drops of what
    # the client still sends before it closes (`_linger`).
    linger_seconds = 2.0
    linger_bytes = 1 << 20
    # How long answers may wait for the client to take them, once the socket's buffers are
    # full (`_send_stalled`).
    send_timeout_seconds = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the request timer: a connection that sends no complete request in time is
        closed."""
        super().connection_made(transport)
        self.flow = _ReadingFlow(transport, self)
        # Writing pauses as soon as a byte of an answer waits in this process, the socket's
        # buffers full (the transport's default waits for 64 KiB more): the send timer runs
        # from then (`pause_writing`), however little waits when the connection closes.
        transport.set_write_buffer_limits(high=0)
        self._send_timer: asyncio.TimerHandle | None = None
        self._send_waiting = 0  # bytes waiting for the client when the send timer was set
        self._head_bytes = 0
        self._in_head = True
        self._refusing = False
        self._refusal: _Refusal = _TOO_LARGE  # what a refusal writes (`_Refusal`)
        self._switch_refused = False  # an upgrade request was read: nothing more is
        self._chunks = _ChunkedBody(self.max_head_bytes)  # where a chunked body ends
        self._ended = False  # a request ended in the piece being parsed
        self._begun = False  # the parser has begun a request (its first byte past CR, LF)
        self._out_of_step = False  # a piece ran past a request's end (`on_message_begin`)
        self._held = b""  # bytes read past max_pipelined queued requests, not parsed yet
        self._held_pos = 0  # where in `_held` they start
        self._tail = b""  # the last bytes (three at most) fed to the parser
        self._upgrade_body_left = 0  # of an upgrade request's body (its Content-Length)
        self._draining = False  # shutting down: a body held midway is parsed to its end
        self._stopping = False  # shut down: no request after those read is parsed
        self._lingering: asyncio.TimerHandle | None = None  # its side shut, closing (`_linger`)
        self._linger_left = self.linger_bytes  # of what may still be read and dropped
        self._body_left: int | None = None  # of the request's Content-Length, not yet parsed
        self._cycle_before: RequestResponseCycle | None = None  # uvicorn's before the last head
        self._request_timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # when the running timer fires (loop time)
        self._time_left: float | None = None  # of a request part-read when reading paused
        self._start_request_timer()

    def data_received(self, data: bytes) -> None:
        """Count the bytes of each request head before the parser sees them.

        Pipelined requests share a read, so the parser gets it in pieces, each ending where
        the parser ends the head or body it holds, or earlier: a head up to its end (within
        the limit), a body up to its end (`_body_piece`). So no request is parsed past the
        queue's limit or counted with another's head; a piece that the parser found to run
        past a request's end is refused, unparsed past that end (`on_message_begin`).
        """
        if self._lingering:  # closing: what still comes is read and dropped, up to a limit
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        if self._refusing or (self._switch_refused and not self._upgrade_body_left):
            self.flow.pause_reading()  # read nothing more on this connection
            return
        if self._held:  # they wait behind the bytes held already
            self._held = self._held[self._held_pos :] + data
            self._held_pos = 0
            self.flow.pause_reading()
            return
        self._parse(data)

    def _parse(self, data: bytes, pos: int = 0) -> None:
        """Feed `data` from `pos` to the parser a piece at a time (`data_received`); what
        comes after `max_pipelined` queued requests is held, reading paused. `data` is walked
        by offset, never copied whole again (pieces are copies, each byte in one)."""
        end_of_data = len(data)
        while pos < end_of_data and not self.transport.is_closing():
            if self._stopping and self._in_head:  # no request after the last one read
                self.flow.pause_reading()
                return
            if self._switch_refused:  # only an upgrade request's body is read on
                if not self._upgrade_body_left:
                    return
                pos = self._upgrade_body(data, pos)
                continue
            if len(self.pipeline) >= self.max_pipelined and not self._draining:
                self._held, self._held_pos = data, pos
                self.flow.pause_reading()
                # Held bytes wait on answers, not on the client: a request (a body, say)
                # held midway gets the rest of its time once it is parsed on.
                self._pause_request_timer()
                return
            if self._request_timer is None and not self.flow.read_paused:
                self._start_request_timer()  # the next request's first bytes, or held ones
            in_head = self._in_head
            if in_head:
                size, within = self._head_piece(data, pos)
                self._head_bytes += size
            elif self._chunks.ended:  # the parser reads on past where its body ended
                self._lost_track("a chunked body went on past its end")
                return
            else:
                size = self._body_piece(data, pos)
                if self._chunks.too_large:
                    self._refuse_request(_TRAILERS_TOO_LARGE)
                    return
            piece = data[pos : pos + size]
            pos += size
            self._ended = False
            super().data_received(piece)
            self._tail = piece[-3:] if size >= 3 else (self._tail + piece)[-3:]
            if self._refusing:  # a malformed request (send_400_response): nothing more is parsed
                return
            if self.parser.should_upgrade():  # the parser stopped at an upgrade request's head
                self._refuse_switch()
                continue  # its body, if it has one, is read on (`_upgrade_body`)
            if in_head and not within and pos < end_of_data:  # the head is over the limit
                self._refuse()
                return

    def _head_piece(self, data: bytes, pos: int) -> tuple[int, bool]:
        """How much of `data` from `pos` the parser gets as head in one piece, and whether
        that is within the size limit: before a request, the CR and LF bytes the parser skips
        (counted as head: a run of them cut at each blank line cost a parser call per two
        bytes); in a head, up to its end (CRLF CRLF: in a head, none but its end), begun in
        the bytes fed before or not; else as much as the limit leaves."""
        room = self.max_head_bytes - self._head_bytes
        if not self._begun:
            skipped = _LINE_ENDS.match(data, pos).end() - pos  # type: ignore[union-attr]
            if skipped:
                return min(skipped, room), skipped < room
        end = _blank_line_end(self._tail, data, pos, room)
        if end >= 0:
            return end, True
        return min(len(data) - pos, room), False

    def _body_piece(self, data: bytes, pos: int) -> int:
        """How much of `data` from `pos` the parser gets as body in one piece, so that no
        piece carries requests behind the body (they would pass the queue's limit and the
        head count): up to the body's end, by its Content-Length or its chunks'
        (`_ChunkedBody`)."""
        left = self._body_left
        if left:
            return min(len(data) - pos, left)
        return self._chunks.span(data, pos)

    def _upgrade_body(self, data: bytes, pos: int) -> int:
        """Pass the body of an upgrade request on to its app (httptools skips it and stops
        parsing at the head); where it ends, so does the request. The new position."""
        size = min(len(data) - pos, self._upgrade_body_left)
        self._upgrade_body_left -= size
        self.on_body(data[pos : pos + size])
        if not self._upgrade_body_left:
            self._in_head = True
            self._cancel_request_timer()
            self.flow.pause_reading()  # nothing after it is read
            super().on_message_complete()
        return pos + size

    def _refuse_switch(self) -> None:
        """Answer the upgrade request over HTTP/1.1 (RFC 9110 7.8 lets a server ignore
        Upgrade) and close after that answer; what follows its head (its body, any request
        behind it) is never parsed, so it cannot be read as a request."""
        self._switch_refused = True
        if not self._upgrade_body_left:
            self.flow.pause_reading()
        if self.cycle is not None:  # the upgrade request's, queued or running
            self.cycle.keep_alive = False

    def _unsupported_upgrade_warning(self) -> None:
        """Nothing: uvicorn warns twice per upgrade request, a log line anyone can make; the
        request is in the access log with its answer."""

    def on_body(self, body: bytes) -> None:
        """Count down the body's Content-Length (where the request ends in a read), then
        uvicorn's."""
        if self._body_left is not None:
            self._body_left -= len(body)
        super().on_body(body)

    def on_headers_complete(self) -> None:
        """The head is complete: stop counting it (the timer runs until the body is in). An
        upgrade request with a chunked body is refused (400): httptools skips an upgrade
        request's body, and only one of known length is passed on here (`_upgrade_body`)."""
        # The parser has checked it (digits; not beside Transfer-Encoding): None when chunked.
        lengths = [value for name, value in self.headers if name == b"content-length"]
        self._body_left = int(lengths[0]) if lengths else None
        self._chunks.reset()
        chunked = any(name == b"transfer-encoding" for name, _ in self.headers)
        if chunked and self.parser.should_upgrade():
            self._refuse(_bad_request(_CHUNKED_UPGRADE))
            return
        # uvicorn may find the head malformed here (a URL httptools cannot split): its 400
        # (send_400_response) comes while the head is still the one being read.
        self._cycle_before = self.cycle
        super().on_headers_complete()
        self._in_head = False
        self._head_bytes = 0

    def on_message_complete(self) -> None:
        """The request is complete: stop timing it; the next bytes are the next request's.
        Not yet for an upgrade request with a body (httptools calls this at its head):
        `_upgrade_body` completes it."""
        if self._refusing:  # a refused head: no request of it was started
            return
        if self._body_left and self.parser.should_upgrade():
            self._upgrade_body_left = self._body_left
            return
        self._in_head = True
        self._ended = True
        self._begun = False
        self._cancel_request_timer()
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not self.pipeline:
            # Answered before its body was in: uvicorn's keep-alive timer, armed with the
            # answer, was cancelled by the body's last bytes; the connection is idle now.
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_message_begin(self) -> None:
        """A request begins: in a piece where one ended, the piece ran past a request's end
        (this server's pieces end no later), so the request would escape the queue's limit
        and the head count. Never seen; if it is, the parser stops here (the exception) and
        the connection is refused (`send_400_response`), nothing after that end parsed."""
        if self._ended:
            self._out_of_step = True
            raise _LostTrack
        self._begun = True
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header of the head, uvicorn's; a trailer (after a chunked body) is dropped: ASGI
        has no place for one, and uvicorn added it to the request's headers, which the app
        holds (a forged `Authorization` among them), past the head's size limit."""
        if self._in_head:
            super().on_header(name, value)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timers with the connection."""
        self._cancel_request_timer()
        self._cancel_send_timer()
        if self._lingering:
            self._lingering.cancel()
        super().connection_lost(exc)

    def _start_request_timer(self) -> None:
        """Time the request being received: the whole timeout, or what was left of it when
        reading paused midway."""
        delay = self.head_timeout_seconds if self._time_left is None else self._time_left
        self._time_left = None
        self._deadline = self.loop.time() + delay
        self._request_timer = self.loop.call_at(self._deadline, self._request_timed_out)

    def _pause_request_timer(self) -> None:
        """Reading paused: stop the clock, keeping the time left (so pauses a client can
        bring about, 64 KiB of body at a time, give it no time of its own)."""
        if self._request_timer is not None:
            self._time_left = max(self._deadline - self.loop.time(), 0.0)
            self._request_timer.cancel()
            self._request_timer = None

    def _reading_resumed(self) -> None:
        """Reading starts again (`_ReadingFlow`): a request read in part is timed again, for
        the time it had left (never while bytes are held: `_ReadingFlow` keeps reading paused
        then, and they are timed once parsed)."""
        if self._request_timer is not None or self._refusing:
            return
        if self._switch_refused and not self._upgrade_body_left:  # nothing more is read
            return
        if self._head_bytes or not self._in_head or self._upgrade_body_left:
            self._start_request_timer()

    def _cancel_request_timer(self) -> None:
        """The request is in (or refused, or the connection gone): no more timing of it."""
        self._time_left = None
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        """The request did not come in time: the connection closes, after the answers to
        the requests before it (they were lost, when an app took longer than the timeout
        while the next request, or a blank line a client sent after a body, was in part)."""
        self._request_timer = None  # runs only while a request is being received
        if not self.transport.is_closing():
            self._refuse_request(None)

    def pause_writing(self) -> None:
        """The client takes no more of the answers for now (the socket's buffers are full):
        uvicorn holds the app's next write, and the send timer runs."""
        super().pause_writing()
        if self._send_timer is None:
            self._set_send_timer()

    def resume_writing(self) -> None:
        """The client took every byte that waited: the app writes on, untimed."""
        self._cancel_send_timer()
        super().resume_writing()

    def _set_send_timer(self) -> None:
        self._send_waiting = self.transport.get_write_buffer_size()
        self._send_timer = self.loop.call_later(self.send_timeout_seconds, self._send_stalled)

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_stalled(self) -> None:
        """`send_timeout_seconds` since the answers began to wait: if the client took some of
        them meanwhile, it gets as long again; if none, the connection is dropped (a client
        that reads nothing held it, an app's task and its answers without end: uvicorn has
        no timeout on a write, and a close waits for the answers to be sent)."""
        self._send_timer = None
        waiting = self.transport.get_write_buffer_size()
        if not waiting:
            return
        if waiting < self._send_waiting:
            self._set_send_timer()
            return
        self.transport.abort()

    def on_response_complete(self) -> None:
        """A response went out: held bytes are parsed while the queue has room; a refusal
        waiting on it goes once none is left."""
        held, self._held = self._held, b""  # taken first, so that reading may resume
        super().on_response_complete()  # resumes reading, which held bytes or a refusal undo
        if held and not self.transport.is_closing():
            self._parse(held, self._held_pos)
        if self._refusing:
            if self._responding():
                self.flow.pause_reading()
            else:
                self._send_refusal()

    def shutdown(self) -> None:
        """A graceful stop answers the requests queued (the connection closes after the last
        answer); the bytes held behind them are not parsed, save the rest of a body being
        read (its app waits for it): the client sees the connection end with those requests
        unanswered, and sends them again (RFC 9112, 9.3.2). Parsed with the queue's limit
        lifted, one read of held bytes queued about 7,000 requests (12.5 MB) per connection
        in a review, on connections whose client read no answer. A connection ending in
        order (`_linger`) closes now: its answers are written, and the stop should not wait."""
        if self._lingering:
            self.transport.close()
            return
        self._stopping = True
        if self._held and not self.transport.is_closing() and not self._refusing:
            self._draining = True  # the body being read, if one is, to its end: no request more
            held, self._held = self._held, b""
            self._parse(held, self._held_pos)
            self._draining = False
        if self._in_head:
            self._cancel_request_timer()
            self.flow.pause_reading()
        if not self._refusing:  # a refusal closes the connection after the last answer
            super().shutdown()

    def _reading_held(self) -> bool:
        """Whether reading stays paused: bytes are held, a refusal waits (nothing more is
        read), or the server is stopping and nothing more is to be read (`shutdown`)."""
        return bool(self._held) or self._refusing or (self._stopping and self._in_head)

    def _responding(self) -> bool:
        """Whether an earlier request of this connection has yet to get its response."""
        cycle = self.cycle
        return bool(self.pipeline) or (cycle is not None and not cycle.response_complete)

    def _refuse(self, reply: _Refusal = _TOO_LARGE) -> None:
        """`reply` (431) and close, after the responses to the requests before this one
        (pipelined on the connection): a client reads replies in order, so an earlier 431
        would read as the answer to an earlier request. Nothing more is read meanwhile."""
        self._cancel_request_timer()
        self._refusing = True
        self._refusal = reply
        if self._responding():
            self.flow.pause_reading()
            return
        self._send_refusal()

    def _lost_track(self, what: str) -> None:
        """The pieces fed to the parser are out of step with its requests (a defect here):
        500 and close after the answers before, nothing more parsed, and an error logged."""
        logger.error(
            "connection refused (500): %s; kontaxa_common.server lost track of where its "
            "requests end, a defect to report",
            what,
        )
        self._refuse_request(_OUT_OF_STEP)

    def _send_refusal(self, app_runs: bool = False) -> None:
        """The refusal, then the connection's end: at once while an app runs (it may write
        yet), else in order (`_linger`)."""
        if not self.transport.is_closing():
            if self._refusal is not None:
                status, text = self._refusal
                headers = self.server_state.default_headers  # its `date`, as on every answer
                self.transport.write(_refusal_bytes(status, text, headers))
            if app_runs or not self.transport.can_write_eof():
                self.transport.close()
            else:
                self._linger()

    def _linger(self) -> None:
        """End the connection in order (RFC 9112, 9.6): shut this side (the client reads
        every answer, then the end), read and drop what the client still sends, and close
        when it shuts its side or after `linger_seconds`. Closed at once with bytes of the
        client's unread, or sent more after, the kernel reset the connection, which can
        erase answers the client has not read yet. Past `linger_bytes` read, it closes."""
        self._cancel_request_timer()
        self._unset_keepalive_if_required()  # uvicorn's, armed with the last answer
        try:
            self.transport.write_eof()
        except OSError:  # the client has gone (asyncio's loop raises; uvloop's does not)
            self.transport.close()
            return
        self.transport.resume_reading()  # under uvicorn's flow control, paused; dropped now
        self._lingering = self.loop.call_later(self.linger_seconds, self._linger_over)

    def _linger_over(self) -> None:
        """The time to end in order is over: close; abort if the client is not even reading
        the answers (a close waits for them to be sent, without end)."""
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A malformed request: 400 and close, after the answers to the requests before it,
        as the 431 (uvicorn wrote it at once, ahead of them, and a client reading in order
        took it for an earlier answer); see `_refuse_request`."""
        if self._out_of_step:
            self._lost_track("a piece fed to the parser ran past a request's end")
            return
        self._refuse_request(_bad_request(msg))

    def _refuse_request(self, reply: _Refusal) -> None:
        """`reply` to the request being read, and close, after the answers to the requests
        before it. One refused in its body, queued behind them, is taken off the queue (its
        app never runs; `reply` is its answer). One whose app runs has every request before
        it answered: `reply` goes at once (uvicorn's 400 did), unless its app has begun to
        answer: then the connection closes, the answer cut short (uvicorn wrote the 400
        into it) or whole (its app read no body; a second answer would be read as the next
        request's)."""
        if not self._in_head:  # the body of `self.cycle`, the last request parsed
            cycle = self.cycle
            queued = next((entry for entry in self.pipeline if entry[0] is cycle), None)
            if queued is None or self._cycle_before is None:  # its app runs
                self._refusing = True
                if cycle.response_started:
                    self.transport.close()
                else:
                    self._refusal = reply
                    self._send_refusal(app_runs=True)
                return
            self.pipeline.remove(queued)  # as if its head had not been read
            self.cycle = self._cycle_before
        self._refuse(reply)


_CHUNKED_UPGRADE = (
    "a request asking to switch protocols (Upgrade) may carry a body of known length "
    "(Content-Length) only; this server speaks HTTP/1.1"
)


def _bad_request(msg: str) -> _Refusal:
    """A 400 with `msg`."""
    return 400, msg.encode("ascii")


def _refusal_bytes(status: int, text: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A refusal as uvicorn writes its own 400: its status line, `headers` (uvicorn's
    default headers: the `date` it refreshes each second), then the text's, closing the
    connection."""
    head = [STATUS_LINE[status]]
    for name, value in headers:
        head += [name, b": ", value, b"\r\n"]
    head.append(
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % len(text)
    )
    return b"".join(head) + text


def protocol_for(settings: ServiceSettings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with the head limits of `settings`."""
    attributes: dict[str, Any] = {
        "max_head_bytes": settings.max_request_head_bytes,
        "head_timeout_seconds": settings.header_read_timeout_seconds,
        "send_timeout_seconds": settings.send_timeout_seconds,
    }
    return type("ServiceHttpProtocol", (BoundedHttpToolsProtocol,), attributes)


def build_frozen(factory: str) -> Any:
    """The app `factory` ("module:function") builds, with every object alive so far frozen.

    The modules, the app, its routes and schemas (about 62,000 objects in main-api) live as
    long as the process. Left in the collector's oldest generation, each full collection
    walks all of them: 60 to 85 ms with the event loop stopped, every few seconds under load,
    because objects of requests in flight outlive two young collections and count towards
    the next full one. That was main-api's p99 (docs/performance.md, "The tail"). Frozen, they
    are never walked again; what the app allocates later is collected as before.
    """
    app = import_from_string(factory)()
    gc.collect()
    gc.freeze()
    return app


def schedule_in_batches(settings: ServiceSettings) -> None:
    """Put every thread of this process, and so every thread it starts later (a new thread
    takes its creator's policy), under SCHED_BATCH when CPU_BATCH_SCHEDULING is on.

    Under the default policy a woken thread preempts the one running on its CPU. main-api's
    event loop hands each call to aux-service to pyreqwest's runtime thread and gets the
    reply back the same way, so on a busy core the two preempted each other about six times
    per request (docs/performance.md). A SCHED_BATCH thread that wakes waits for the running
    one's time slice to end (the scheduler's tick), so each runs its ready work in one go.
    The price, not measured here: on a CPU busy with other processes' work, a woken thread
    waits for the running one's slice, about one slice per runnable task ahead of it, at each
    handoff; on an idle CPU it runs at once as before. Off, the default policy is set, so a
    service started by a SCHED_BATCH parent does not keep its parent's. Nothing more is asked
    of the kernel: any process may lower its own policy to this one (and raise it back to the
    default), and the container runtimes' default seccomp profiles allow the call. Where it
    is refused, the threads keep the policy they started with and one warning says so; where
    the OS has no such policy (macOS), nothing is done.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return
    batch = settings.cpu_batch_scheduling
    policy, param = (os.SCHED_BATCH if batch else os.SCHED_OTHER), os.sched_param(0)
    try:
        for thread in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that has ended since
                os.sched_setscheduler(int(thread), policy, param)
    except OSError as exc:
        logger.warning(
            "the threads stay under the CPU scheduling policy they started with: %s was "
            "refused (%s)%s",
            "SCHED_BATCH" if batch else "SCHED_OTHER",
            exc.strerror or exc,
            "; set CPU_BATCH_SCHEDULING=false to not ask" if batch else "",
        )


def build(factory: str, settings: ServiceSettings, freeze: bool) -> Any:
    """The app `factory` builds (logging is configured then), its threads scheduled in
    batches, everything built so far frozen unless `freeze` is False."""
    app = build_frozen(factory) if freeze else import_from_string(factory)()
    schedule_in_batches(settings)
    return app


def serve(factory: str, settings: ServiceSettings, *, freeze: bool = True) -> None:
    """Serve the app that `factory` ("module:function") builds; graceful on SIGTERM.

    `freeze=False` keeps every object in the collector's generations (the benchmark's
    comparison case); the services always freeze.
    """
    uvicorn.run(
        functools.partial(build, factory, settings, freeze),
        factory=True,
        host=settings.host,
        port=settings.port,
        http=protocol_for(settings),
        ws="none",  # no WebSocket routes: an upgrade request is answered over HTTP/1.1
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # Logging is configured by the app factory (JSON); uvicorn must not override it.
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


class _MetricsServer(uvicorn.Server):
    """uvicorn serving the exposition beside the app; the app's server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install no handlers: SIGTERM stops the app's server, whose lifespan stops this one."""
        yield


@contextlib.asynccontextmanager
async def metrics_listener(settings: ServiceSettings, metrics: Metrics) -> AsyncIterator[None]:
    """Serve `metrics` on HOST:METRICS_PORT, on the running event loop, while the block runs.

    The app's lifespan enters it, so it starts and stops with the service. The socket is bound
    here first, so a taken port fails the startup with the error instead of a log line.
    """
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        sock = socket.create_server((settings.host, settings.metrics_port), family=family)
    except OSError as exc:
        raise RuntimeError(
            f"metrics listener: cannot bind {settings.host}:{settings.metrics_port} ({exc}); "
            "set METRICS_PORT to a free port"
        ) from exc
    config = uvicorn.Config(
        make_asgi_app(metrics.registry),
        lifespan="off",
        http=protocol_for(settings),
        ws="none",
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=1,
    )
    server = _MetricsServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # the startup's error, if it raised one
            raise RuntimeError("metrics listener: uvicorn stopped before it started")
        await asyncio.sleep(0.005)
    logger.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    try:
        yield
    finally:
        server.should_exit = True
        await task
