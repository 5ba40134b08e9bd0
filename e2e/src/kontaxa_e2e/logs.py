"""Capture the services' JSON log lines exactly as they are written."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from kontaxa_common.logs import BatchingStreamHandler, JsonFormatter


class CapturedLogs:
    """The text written while capturing, and its lines parsed."""

    def __init__(self, stream: io.StringIO, handler: BatchingStreamHandler) -> None:
        self._stream = stream
        self._handler = handler

    @property
    def text(self) -> str:
        """Everything written (the lines still queued included)."""
        self._handler.flush()
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Each line as a dict."""
        return [json.loads(line) for line in self.text.splitlines() if line]


@contextlib.contextmanager
def capture_service_logs(level: int = logging.DEBUG) -> Iterator[CapturedLogs]:
    """Tee the root logger's JSON output (same formatter, same redaction) into memory.

    Through a batching handler like the services' own: the access line goes only to those.
    """
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if isinstance(h.formatter, JsonFormatter))
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(formatter)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield CapturedLogs(stream, handler)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
