"""Request IDs: accepted from `X-Request-ID` when well-formed, generated otherwise."""

import os
import re
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators: enough for UUIDs, W3C trace IDs and
# most gateways' formats, and nothing that can break a log line or a header.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def new_request_id() -> str:
    """A fresh random request ID: 32 hex digits (128 random bits, cheaper than a UUID object)."""
    return os.urandom(16).hex()


def is_valid_request_id(value: str) -> bool:
    """Whether a client-supplied request ID may be propagated as is."""
    return _VALID.fullmatch(value) is not None
