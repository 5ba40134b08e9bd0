"""JSON logs: one object per line, secret values redacted before anything is written."""

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from kontaxa_common.requestid import current_request_id

REDACTED = "[REDACTED]"
_NEVER_DEBUG = ("botocore", "boto3", "urllib3", "s3transfer", "aiohttp", "httpx", "httpcore")


class Redactor:
    """Holds the secret values currently loaded so no log line can carry them."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()

    def replace_values(self, values: Iterable[str]) -> None:
        """Swap in the current set of secret values (short ones would redact noise)."""
        self._values = tuple(sorted({v for v in values if len(v) >= 8}, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """Return `text` with every known secret value replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


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

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redactor.scrub(json.dumps(entry, default=str))


def configure_logging(service: str, level: str, redactor: Redactor) -> None:
    """Route every logger (uvicorn's included) to stderr as JSON; uvicorn's access log off."""
    handler = logging.StreamHandler(sys.stderr)
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
