"""The API-key check moved out of FastAPI's dependencies: schema and responses unchanged.

The snapshots were written from the app with the check as a FastAPI security dependency
(`ApiKeyBearer`, an `HTTPBearer`; commit "main-api: snapshots of its schema and auth
responses"); the check now runs in the ASGI layer (kontaxa_common.web.require_credentials),
which must not change a byte a client or a reader of `/docs` sees.
`KONTAXA_WRITE_SNAPSHOTS=1` rewrites them, for a deliberate change of the schema or of a
response.
"""

from pathlib import Path
from typing import Any

from kontaxa_e2e.snapshots import TIME, compare, compare_schema, exchange, mask

from .conftest import Stack

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES: list[tuple[str, str, str, list[str]]] = [
    # (name, method, path, the Authorization headers sent, {key} the primary key); a value
    # with trailing white space is left out: HTTP strips it (RFC 9110, 5.5), h11 refuses it
    ("buckets ok", "GET", "/buckets", ["Bearer {key}"]),
    ("parameters ok", "GET", "/parameters", ["Bearer {key}"]),
    ("parameter ok", "GET", "/parameters/welcome-message", ["Bearer {key}"]),
    ("parameter missing", "GET", "/parameters/no-such-parameter", ["Bearer {key}"]),
    ("parameter bad name", "GET", "/parameters/bad%20name", ["Bearer {key}"]),
    ("parameter dot segment", "GET", "/parameters/..%2Fsecret", ["Bearer {key}"]),
    ("parameter lower-case scheme", "GET", "/parameters/welcome-message", ["bearer {key}"]),
    ("parameter upper-case scheme", "GET", "/parameters/welcome-message", ["BEARER {key}"]),
    ("parameter spaces before key", "GET", "/parameters/welcome-message", ["Bearer   {key}"]),
    ("parameter secondary key", "GET", "/parameters/welcome-message", ["Bearer {secondary}"]),
    ("buckets no header", "GET", "/buckets", []),
    ("buckets wrong key", "GET", "/buckets", ["Bearer not-the-key"]),
    ("buckets scheme only", "GET", "/buckets", ["Bearer"]),
    ("buckets empty header", "GET", "/buckets", [""]),
    ("buckets key without scheme", "GET", "/buckets", ["{key}"]),
    ("buckets basic scheme", "GET", "/buckets", ["Basic {key}"]),
    ("buckets tab after scheme", "GET", "/buckets", ["Bearer\t{key}"]),
    ("buckets key with suffix", "GET", "/buckets", ["Bearer {key}x"]),
    ("buckets key and more", "GET", "/buckets", ["Bearer {key} x"]),
    ("buckets second header valid", "GET", "/buckets", ["Bearer wrong", "Bearer {key}"]),
    ("buckets first header valid", "GET", "/buckets", ["Bearer {key}", "Bearer wrong"]),
    ("parameters no header", "GET", "/parameters", []),
    ("parameters wrong key", "GET", "/parameters", ["Bearer not-the-key"]),
    ("parameter no header", "GET", "/parameters/welcome-message", []),
    ("parameter wrong key", "GET", "/parameters/welcome-message", ["Bearer not-the-key"]),
    ("parameter empty key", "GET", "/parameters/welcome-message", ["Bearer"]),
    ("parameter bad name no header", "GET", "/parameters/bad%20name", []),
    ("buckets post no header", "POST", "/buckets", []),
    ("buckets post with key", "POST", "/buckets", ["Bearer {key}"]),
    ("parameters head no header", "HEAD", "/parameters", []),
    ("parameters head with key", "HEAD", "/parameters", ["Bearer {key}"]),
    ("unknown path no header", "GET", "/parameterz", []),
    ("unknown path wrong key", "GET", "/buckets/x", ["Bearer not-the-key"]),
    ("version no header", "GET", "/version", []),
    ("version wrong key", "GET", "/version", ["Bearer not-the-key"]),
    ("health wrong key", "GET", "/health", ["Bearer not-the-key"]),
    ("ready no header", "GET", "/ready", []),
]


def _exchange(stack: Stack, method: str, path: str, values: list[str], request_id: str) -> Any:
    keys = {"key": stack.keys.api_keys["primary"], "secondary": stack.keys.api_keys["secondary"]}
    headers = [("X-Request-ID", request_id)]
    headers += [("Authorization", value.format(**keys)) for value in values]
    return exchange(stack.http, method, path, headers)


def test_a_time_masks_alike_with_or_without_its_fraction() -> None:
    """The emulator's times have a fraction unless it is zero (about one in 1,000 seeded
    parameters): both forms give one masked body and content-length, so the comparison does
    not hang on the millisecond the seed ran in."""
    with_fraction = '{"last_modified":"2026-12-02T00:05:38.825000Z","n":1}'
    without = '{"last_modified":"2026-12-02T00:05:38Z","n":1}'
    masked = f'{{"last_modified":"{TIME}Z","n":1}}'
    assert mask(with_fraction, len(with_fraction)) == (masked, len(masked))
    assert mask(without, len(without)) == (masked, len(masked))
    # The zone is kept: a change of its format is a change of the response.
    offset = '{"last_modified":"2026-12-02T00:05:38+00:00","n":1}'
    assert mask(offset, len(offset))[0] == f'{{"last_modified":"{TIME}+00:00","n":1}}'
    # A HEAD answer has a length but no body: the length is the one sent.
    assert mask("", 218) == ("", 218)


def test_openapi_schema_is_unchanged(stack: Stack) -> None:
    """`/openapi.json` (so `/docs`, which renders it) holds the same bytes."""
    snapshot = compare_schema(SNAPSHOTS, stack.http)
    for path in ("/buckets", "/parameters", "/parameters/{name}"):
        assert snapshot["paths"][path]["get"]["security"] == [{"HTTPBearer": []}]
    for path in ("/health", "/ready", "/version"):
        assert "security" not in snapshot["paths"][path]["get"]
    assert snapshot["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "description": "An API key from the main-api secret.",
            "scheme": "bearer",
        }
    }


def test_responses_are_unchanged(stack: Stack) -> None:
    """Status, headers (all but the date) and body bytes of every case."""
    exchanges = {
        name: _exchange(stack, method, path, values, f"case-{index}")
        for index, (name, method, path, values) in enumerate(CASES)
    }
    compare(SNAPSHOTS, "auth-responses.json", exchanges)


def test_responses_without_loaded_keys_are_unchanged(stack: Stack) -> None:
    """No API key mounted: every key is refused (an empty mount is no credential)."""
    for path in stack.secrets_dir.glob("api-key-*"):
        path.write_text("")
    cases = [
        ("parameter old key", "GET", "/parameters/welcome-message", ["Bearer {key}"]),
        ("parameter empty key", "GET", "/parameters/welcome-message", ["Bearer"]),
        ("buckets no header", "GET", "/buckets", []),
        ("version", "GET", "/version", []),
    ]
    exchanges = {
        name: _exchange(stack, method, path, values, f"unready-{index}")
        for index, (name, method, path, values) in enumerate(cases)
    }
    compare(SNAPSHOTS, "auth-responses-no-keys.json", exchanges)


def test_an_unhandled_error_behind_the_check_is_unchanged(stack: Stack) -> None:
    """An endpoint's unexpected exception is still the enveloped 500, the key checked first."""

    async def explode() -> None:
        raise RuntimeError("internal detail that must not leak")

    stack.main_app.state.aux.buckets = explode
    exchanges = {
        "authorized": _exchange(stack, "GET", "/buckets", ["Bearer {key}"], "boom-1"),
        "unauthorized": _exchange(stack, "GET", "/buckets", ["Bearer wrong"], "boom-2"),
    }
    compare(SNAPSHOTS, "auth-responses-500.json", exchanges)
