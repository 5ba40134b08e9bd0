"""The credential check moved out of FastAPI's dependencies: schema and responses unchanged.

Both snapshots were written from the app as it was with the check as a FastAPI security
dependency (commit "snapshots of aux-service's schema and auth responses"); the check now
runs in the ASGI layer (kontaxa_common.web.require_credentials), which must not change a
byte a client or a reader of `/docs` sees. `KONTAXA_WRITE_SNAPSHOTS=1` rewrites them, for
a deliberate change of the schema or of a response.
"""

from pathlib import Path
from typing import Any

from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.inprocess import SeedData
from kontaxa_e2e.snapshots import compare, compare_schema, exchange

from .conftest import Aux, start_aux

SNAPSHOTS = Path(__file__).parent / "snapshots"
TOKEN = object()  # stands for the valid service token, which is new in every test run

CASES: list[tuple[str, str, str, Any]] = [
    # (name, method, path, X-Service-Token: TOKEN, a value, or None for no header)
    ("buckets ok", "GET", "/buckets", TOKEN),
    ("parameters ok", "GET", "/parameters", TOKEN),
    ("parameter ok", "GET", "/parameters/welcome-message", TOKEN),
    ("parameter missing", "GET", "/parameters/no-such-parameter", TOKEN),
    ("parameter bad name", "GET", "/parameters/bad%20name", TOKEN),
    ("parameter dot segment", "GET", "/parameters/..%2Fsecret", TOKEN),
    ("buckets no token", "GET", "/buckets", None),
    ("buckets wrong token", "GET", "/buckets", "not-the-token"),
    ("buckets empty token", "GET", "/buckets", ""),
    ("parameters no token", "GET", "/parameters", None),
    ("parameters wrong token", "GET", "/parameters", "not-the-token"),
    ("parameters empty token", "GET", "/parameters", ""),
    ("parameter no token", "GET", "/parameters/welcome-message", None),
    ("parameter wrong token", "GET", "/parameters/welcome-message", "not-the-token"),
    ("parameter empty token", "GET", "/parameters/welcome-message", ""),
    ("parameter bad name no token", "GET", "/parameters/bad%20name", None),
    ("buckets post no token", "POST", "/buckets", None),
    ("buckets post with token", "POST", "/buckets", TOKEN),
    ("parameters head no token", "HEAD", "/parameters", None),
    ("unknown path no token", "GET", "/parameterz", None),
    ("unknown path wrong token", "GET", "/buckets/x", "not-the-token"),
    ("version no token", "GET", "/version", None),
    ("health wrong token", "GET", "/health", "not-the-token"),
]


def _exchange(aux: Aux, method: str, path: str, token: Any, request_id: str) -> dict[str, Any]:
    headers = [("X-Request-ID", request_id)]
    if token is TOKEN:
        headers.append(("X-Service-Token", aux.keys.service_token))
    elif token is not None:
        headers.append(("X-Service-Token", token))
    return exchange(aux.http, method, path, headers)


def test_openapi_schema_is_unchanged(aux: Aux) -> None:
    """`/openapi.json` (so `/docs`, which renders it) holds the same bytes."""
    snapshot = compare_schema(SNAPSHOTS, aux.http)
    for path in ("/buckets", "/parameters", "/parameters/{name}"):
        assert snapshot["paths"][path]["get"]["security"] == [{"APIKeyHeader": []}]
    for path in ("/health", "/ready", "/version"):
        assert "security" not in snapshot["paths"][path]["get"]


def test_responses_are_unchanged(aux: Aux) -> None:
    """Status, headers (all but the date) and body bytes of every case."""
    exchanges = {
        name: _exchange(aux, method, path, token, f"case-{index}")
        for index, (name, method, path, token) in enumerate(CASES)
    }
    compare(SNAPSHOTS, "auth-responses.json", exchanges)


def test_responses_without_a_loaded_token_are_unchanged(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    """No token mounted yet: 503 not_ready whatever the caller sends; other routes serve."""
    with start_aux(emulator.url, secrets_root, seeded, service_token_grace_seconds=0) as aux:
        (secrets_root / "service-token").unlink()
        cases = [
            ("parameter any token", "GET", "/parameters/welcome-message", "anything"),
            ("parameter no token", "GET", "/parameters/welcome-message", None),
            ("buckets old token", "GET", "/buckets", TOKEN),
            ("version", "GET", "/version", None),
        ]
        exchanges = {
            name: _exchange(aux, method, path, token, f"unready-{index}")
            for index, (name, method, path, token) in enumerate(cases)
        }
    compare(SNAPSHOTS, "auth-responses-unready.json", exchanges)


def test_an_unhandled_error_behind_the_check_is_unchanged(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    """An endpoint's unexpected exception is still the enveloped 500, token checked first."""
    with start_aux(emulator.url, secrets_root, seeded) as aux:

        async def explode() -> None:
            raise RuntimeError("internal detail that must not leak")

        aux.app.state.aws.list_buckets = explode
        exchanges = {
            "authorized": _exchange(aux, "GET", "/buckets", TOKEN, "boom-1"),
            "unauthorized": _exchange(aux, "GET", "/buckets", "wrong", "boom-2"),
        }
    compare(SNAPSHOTS, "auth-responses-500.json", exchanges)
