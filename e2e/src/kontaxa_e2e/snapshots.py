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
# The emulator's creation and modification times of the seeded data, in the bodies (they
# keep their length, so content-length is still compared).
SEEDED_AT = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def exchange(
    http: httpx.Client, method: str, path: str, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    """Status, raw headers (all but the date) and body of one request, seeded times masked."""
    response = http.request(method, path, headers=headers)
    return {
        "status": response.status_code,
        "headers": [
            [key.decode("latin-1"), value.decode("latin-1")]
            for key, value in response.headers.raw
            if key.decode("latin-1").lower() not in VARYING
        ],
        "body": SEEDED_AT.sub(lambda m: "T" * len(m[0]), response.content.decode("utf-8")),
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
