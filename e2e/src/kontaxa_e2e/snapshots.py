"""Snapshots of a service's schema and responses, so a change of mechanism is shown to change
no byte a client or a reader of `/docs` sees (the services' `test_auth_unchanged.py`).

A snapshot is written once from the code before the change and committed;
`KONTAXA_WRITE_SNAPSHOTS=1` rewrites it, for a deliberate change of the schema or a response.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

WRITE = os.environ.get("KONTAXA_WRITE_SNAPSHOTS") == "1"
# Only the date changes from one response to the next; every other header is compared.
VARYING = {"date"}
# The emulator's creation and modification times of the seeded data, and the build time, in
# the bodies. Their length varies too: a time whose fraction is zero is written without one
# (`…:38Z`, not `…:38.000000Z`), so date, time and fraction are masked to one token, the zone
# kept (a change of zone format shows), and content-length is compared as the length of the
# masked body would be.
SEEDED_AT = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(Z|[+-]\d\d:\d\d)?")
TIME = "<time>"


def mask(body: str, content_length: int | None) -> tuple[str, int | None]:
    """`body` with each time in it replaced by TIME and its zone, `content_length` alike."""
    masked = SEEDED_AT.sub(lambda m: TIME + (m[1] or ""), body)
    if content_length is None:
        return masked, None
    return masked, content_length + len(masked.encode()) - len(body.encode())


def exchange(
    http: httpx.Client, method: str, path: str, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    """Status, raw headers (all but the date) and body of one request, times masked."""
    response = http.request(method, path, headers=headers)
    length = response.headers.get("content-length")
    body, masked_length = mask(
        response.content.decode("utf-8"), None if length is None else int(length)
    )
    pairs = [
        (key.decode("latin-1"), value.decode("latin-1"))
        for key, value in response.headers.raw
        if key.decode("latin-1").lower() not in VARYING
    ]
    return {
        "status": response.status_code,
        "headers": [
            [key, str(masked_length) if key.lower() == "content-length" else value]
            for key, value in pairs
        ],
        "body": body,
    }


def compare(directory: Path, name: str, actual: Any) -> None:
    """`actual` as indented JSON, in its members' order, equals the snapshot `name`."""
    path = directory / name
    text = json.dumps(actual, indent=1, ensure_ascii=False) + "\n"
    if WRITE:
        path.write_text(text)
        pytest.skip(f"rewrote {path.name} (KONTAXA_WRITE_SNAPSHOTS=1)")
    assert text == path.read_text(), f"{name} differs from the snapshot"


def compare_schema(directory: Path, http: httpx.Client) -> dict[str, Any]:
    """`/openapi.json` is byte for byte the snapshot's; the snapshot, parsed.

    The bytes: FastAPI serves the schema compactly, so the snapshot holds it indented for
    review and the served bytes are compared with the snapshot's compact form.
    """
    response = http.get("/openapi.json")
    assert response.status_code == 200
    compare(directory, "openapi.json", response.json())
    snapshot: dict[str, Any] = json.loads((directory / "openapi.json").read_text())
    compact = json.dumps(snapshot, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert response.content == compact.encode(), "/openapi.json differs from the snapshot's bytes"
    return snapshot
