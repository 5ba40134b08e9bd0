"""Fuzzing: schemathesis against both OpenAPI schemas, and the hostile-input catalogue.

- Every operation of main-api and aux-service gets a bounded number of generated requests,
  valid and invalid by the schema, with credentials configured, each judged by every check
  schemathesis has (its `--checks all`: no server error, conformance of status, content
  type, headers and body, data valid by the schema accepted and invalid data refused,
  authentication not ignored, unsupported methods refused with 405 and `Allow`).
- Every entry of e2e/hostile_inputs.yaml goes to main-api byte for byte: each gets a 4xx, and
  aux-service's count of SSM GetParameter calls does not move.
"""

import contextlib
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
import schemathesis
import yaml
from schemathesis import GenerationMode

from kontaxa_e2e.load import aws_calls, port_of
from kontaxa_e2e.targets import Target

CATALOGUE = Path(__file__).resolve().parents[1] / "hostile_inputs.yaml"
MAX_EXAMPLES = 60  # per operation and generation mode; all checks re-send some requests


def _schema(url: str, headers: dict[str, str]) -> Any:
    config = schemathesis.Config.from_dict(
        {"headers": headers, "generation": {"database": "none"}, "request-timeout": 30}
    )
    return schemathesis.openapi.from_url(url + "/openapi.json", config=config)


def _problems(case: Any) -> str | None:
    """What is wrong with the reply to `case` by schemathesis' checks (all of them), or None."""
    try:
        # No `checks=`: every check the configuration enables, and by default it enables all.
        case.call_and_validate()
    except AssertionError as exc:  # schemathesis' FailureGroup is one
        return str(exc)[:1000]
    return None


# schemathesis' pytest integration (`from_fixture`) does not run on pytest 9.2, so each
# operation's strategy is drawn by Hypothesis here: the same generation, a bounded count.
@pytest.mark.parametrize("service", ["main-api", "aux-service"])
def test_every_operation_conforms_to_its_schema(target: Target, service: str) -> None:
    if service == "main-api":
        schema = _schema(target.main_url, {"Authorization": f"Bearer {target.api_key()}"})
    else:
        schema = _schema(target.aux_url, {"X-Service-Token": target.service_token()})
    failures: list[str] = []
    calls: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            def check(case: Any) -> None:
                calls.append(case.operation.label)
                problem = _problems(case)
                if problem:
                    failures.append(f"{case.operation.label} {case.path}: {problem}")

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                # No invalid request exists for an operation without parameters.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(failures[:20])
    # The generation really ran: every operation, and many names for the one with a parameter.
    assert {operation.label for operation in operations} <= set(calls)
    assert calls.count("GET /parameters/{name}") >= MAX_EXAMPLES


# ---- the hostile-input catalogue ---------------------------------------------------------

_REPEAT = re.compile(r"\{repeat:(.*?):(\d+)\}")


def _expand(text: str) -> str:
    return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), text)


def _catalogue() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(CATALOGUE.read_text())
    return entries


def _raw_request(url: str, path: str, headers: list[tuple[str, str]]) -> int:
    """Send one GET exactly as given to the server of `url`, named in Host as `url` names it
    (an Ingress routes by Host: Traefik matches the rule Host("localhost") with the port
    stripped, so any other Host gets Traefik's own 404 and never reaches main-api); the
    status of the reply (0 when the server hung up)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    reply = b""
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as connection:
        # A server that refuses a head past its limit answers and closes with the rest of it
        # unread, which resets the connection: the send may fail, the reply may still be there.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n" not in reply:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                reply += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", reply)
    return int(match.group(1)) if match else 0


def test_the_catalogue_holds_at_least_25_hostile_inputs() -> None:
    entries = _catalogue()
    assert len(entries) >= 25
    assert len({e["id"] for e in entries}) == len(entries)
    assert {e["kind"] for e in entries} >= {
        "path traversal",
        "prefix escape",
        "control character",
        "over-long name",
        "unicode look-alike",
        "header injection",
        "oversized headers",
    }


def test_hostile_inputs_get_a_4xx_and_never_reach_aws(
    target: Target, auth: Callable[[], dict[str, str]]
) -> None:
    if target.aux_metrics_url is None:
        pytest.skip("aux-service's metrics port is unknown (url target without --aux-metrics-url)")
    key = auth()["Authorization"]
    # The same raw requests reach main-api: a valid name is answered (a 4xx from a proxy in
    # front, which never passes a request on, would prove nothing).
    assert (
        _raw_request(target.main_url, "/parameters/welcome-message", [("Authorization", key)])
        == 200
    )
    before = aws_calls(target.aux_metrics_url, "GetParameter")
    refused: dict[str, int] = {}
    for entry in _catalogue():
        headers = [("Authorization", key)]
        headers += [(name, _expand(value)) for name, value in entry.get("headers", [])]
        headers += [(f"X-Filler-{i}", "x") for i in range(entry.get("filler_fields", 0))]
        refused[entry["id"]] = _raw_request(target.main_url, _expand(entry["path"]), headers)
    not_4xx = {id_: status for id_, status in refused.items() if not 400 <= status < 500}
    assert not not_4xx, f"not refused with a 4xx: {not_4xx}"
    assert aws_calls(target.aux_metrics_url, "GetParameter") == before
