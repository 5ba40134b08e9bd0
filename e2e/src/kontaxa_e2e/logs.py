"""Capture the services' JSON log lines exactly as they are written."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from kontaxa_common.logs import JsonFormatter


class CapturedLogs:
    """The text written while capturing, and its lines parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        """Everything written."""
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Each line as a dict."""
        return [json.loads(line) for line in self.text.splitlines() if line]


@contextlib.contextmanager
def capture_service_logs(level: int = logging.DEBUG) -> Iterator[CapturedLogs]:
    """Tee the root logger's JSON output (same formatter, same redaction) into memory."""
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if isinstance(h.formatter, JsonFormatter))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield CapturedLogs(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
