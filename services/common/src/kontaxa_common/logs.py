"""JSON logs: one object per line, secret values redacted before anything is written."""

import json
import logging
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, ClassVar, TextIO

from kontaxa_common.requestid import current_request_id

REDACTED = "[REDACTED]"
# One encoder for every line: json.dumps with any option builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)
_NEVER_DEBUG = ("botocore", "boto3", "urllib3", "s3transfer", "aiohttp", "httpx", "httpcore")
# A `path` field is written up to this many characters: a request head may be 32 KiB
# (server.py), and an unauthenticated 404 writes its access line as well. The cut comes
# after redaction, so it never leaves part of a secret the redactor could not recognise.
MAX_LOGGED_PATH = 1024


class Redactor:
    """Holds the secret values currently loaded so no log line can carry them."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()

    def replace_values(self, values: Iterable[str]) -> None:
        """Swap in the current set of secret values, whatever their length (longest first)."""
        self._values = tuple(sorted({v for v in values if v}, key=len, reverse=True))

    def holds_secret(self, text: str) -> bool:
        """Whether one of the secret values occurs in `text` (what `scrub` would replace)."""
        return any(value in text for value in self._values)

    def scrub(self, text: str) -> str:
        """Return `text` with every known secret value replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def scrub_fields(self, entry: dict[str, Any]) -> dict[str, Any]:
        """`entry` with every secret value replaced in its raw strings, nested ones included.

        Done before JSON encoding: once encoded, a value with a quote, a backslash, a control
        or a non-ASCII character no longer appears as itself in the line.
        """
        if not self._values or not self._may_hold_secret(entry):
            return entry
        return {key: self._scrub_value(value) for key, value in entry.items()}

    def _may_hold_secret(self, entry: dict[str, Any]) -> bool:
        """False only when no secret value occurs in `entry`'s flat strings (an access line).

        One search of the strings joined, per secret value, instead of a walk of every
        field: a value that occurs in a field occurs in the join, so a line this passes
        needs no scrubbing. Anything but a string, a number, a bool or None counts as a
        possible holder (the full walk then decides).
        """
        texts = []
        for value in entry.values():
            if isinstance(value, str):
                texts.append(value)
            elif not (value is None or isinstance(value, bool | int | float)):
                return True
        return self.holds_secret("\0".join(texts))

    def _scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {self.scrub(str(k)): self._scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub_value(item) for item in value]
        return self.scrub(str(value))  # what the encoder's default=str would write


class JsonFormatter(logging.Formatter):
    """Formats records as single-line JSON with the service name and request ID."""

    # Attributes every LogRecord has; anything else passed through `extra=` is a field.
    _STANDARD: ClassVar[frozenset[str]] = frozenset(
        vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
    )

    def __init__(self, service: str, redactor: Redactor) -> None:
        super().__init__()
        self._service = service
        self._redactor = redactor
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, created: float, msecs: float) -> str:
        # One access line per request: the second's prefix is formatted once per second
        # (one tuple, replaced whole, so handlers in other threads never see half of it).
        second, text = self._second
        if second != int(created):
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        standard = self._STANDARD
        fields = {key: value for key, value in record.__dict__.items() if key not in standard}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        """The JSON line of one entry: the common fields, then `fields`, redacted."""
        entry: dict[str, Any] = {
            "ts": self._timestamp(created, (created - int(created)) * 1000),
            "level": level,
            "service": self._service,
            "logger": logger,
            "msg": message,
            "request_id": current_request_id.get(),
        }
        entry.update(fields)
        return _ENCODER.encode(_capped(self._redactor.scrub_fields(entry)))


def _capped(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with a `path` longer than MAX_LOGGED_PATH cut, saying how long it was."""
    path = entry.get("path")
    if isinstance(path, str) and len(path) > MAX_LOGGED_PATH:
        return {**entry, "path": f"{path[:MAX_LOGGED_PATH]}... ({len(path)} characters)"}
    return entry


class BatchingStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes its lines in batches rather than one write per line.

    A line waits at most FLUSH_SECONDS (a daemon thread flushes idle buffers), a warning or
    an error goes out at once with every line before it, and logging's exit hook flushes
    the rest, so only a SIGKILL can lose the last fraction of a second. One write per
    access line was a measurable share of a request (docs/performance.md); web servers
    buffer their access logs for the same reason.
    """

    FLUSH_SECONDS = 0.1
    MAX_LINES = 256
    _live: ClassVar["weakref.WeakSet[BatchingStreamHandler]"] = weakref.WeakSet()
    _flusher: ClassVar[threading.Thread | None] = None

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        BatchingStreamHandler._live.add(self)
        if BatchingStreamHandler._flusher is None:
            BatchingStreamHandler._flusher = threading.Thread(
                target=self._flush_forever, name="log-flusher", daemon=True
            )
            BatchingStreamHandler._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line (called under the handler's lock)."""
        try:
            self._pending.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or len(self._pending) >= self.MAX_LINES:
            self._write_pending()

    def add_line(self, line: str) -> None:
        """Queue a line formatted elsewhere (the access log), with the same batching."""
        with self.lock:  # type: ignore[union-attr] # created in Handler.__init__
            self._pending.append(line)
            if len(self._pending) >= self.MAX_LINES:
                self._write_pending()

    def flush(self) -> None:
        """Write every queued line."""
        with self.lock:  # type: ignore[union-attr] # created in Handler.__init__
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream is gone (closed at exit): nothing to do
            pass

    @classmethod
    def _flush_forever(cls) -> None:
        while True:
            time.sleep(cls.FLUSH_SECONDS)
            for handler in list(cls._live):
                handler.flush()


class AccessLog:
    """The one access line per request, written without the `logging` machinery.

    The line is the one `logging.getLogger("kontaxa.access.<service>").info("request",
    extra=fields)` wrote (same fields in the same order, same redaction, same JSON
    formatter), queued on the service's batching handlers: no LogRecord, no handler and
    filter walk, no formatter dispatch, which were about a sixth of aux-service's time on
    `/version` (docs/performance.md). The logger's level still decides whether it is
    written (`LOG_LEVEL=WARNING` turns it off); the batching guarantees are the handler's.
    """

    def __init__(self, service: str) -> None:
        self._logger = logging.getLogger(f"kontaxa.access.{service}")

    def write(self, fields: dict[str, Any]) -> None:
        """Write the access line with `fields` (method, path, route, status, duration_ms)."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        created = time.time()
        for handler in logging.getLogger().handlers:
            formatter = handler.formatter
            if isinstance(handler, BatchingStreamHandler) and isinstance(formatter, JsonFormatter):
                handler.add_line(formatter.line(created, "INFO", logger.name, "request", fields))


def configure_logging(service: str, level: str, redactor: Redactor) -> None:
    """Route every logger (uvicorn's included) to stderr as JSON; uvicorn's access log off."""
    # The JSON lines carry none of these: skip gathering them for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BatchingStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our middleware writes the one access line per request.
    logging.getLogger("uvicorn.access").disabled = True
    # These log whole requests and responses (headers, bodies, decrypted values) at DEBUG:
    # never let them, whatever LOG_LEVEL says.
    for name in _NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
