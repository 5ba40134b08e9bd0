"""main-api's error mapping for aux-service failures; fakes stand in only for the faults."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kontaxa_common.secrets import SERVICE_TOKEN_FILE
from kontaxa_e2e.inprocess import Keys, scrape_app
from kontaxa_e2e.servers import FakeReply, FakeUpstream, eventually
from kontaxa_local.process_runtime import free_port

from .conftest import start_main


@pytest.fixture
def keys(secrets_root: Path) -> Keys:
    keys = Keys()
    keys.write(secrets_root)
    return keys


def _auth(keys: Keys) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.api_keys['primary']}"}


def test_unreachable_aux_is_503_and_main_api_stays_ready(keys: Keys, secrets_root: Path) -> None:
    with start_main(f"http://127.0.0.1:{free_port()}", keys, secrets_root) as (_, app, http):
        started = time.monotonic()
        response = http.get("/parameters/welcome-message", headers=_auth(keys))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "upstream_unavailable"
        assert response.json()["meta"]["main_api_version"] == "2.3.0-test"
        assert time.monotonic() - started < 2
        # main-api can still serve (its own 503 with metadata): it stays in the Service.
        ready = http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"secrets": "ok"}
        health = http.get("/health")
        assert health.status_code == 200
        assert health.json()["checks"] == {"aux_service": "unreachable"}
        gauge = 'upstream_up{service="main-api",upstream="aux-service"} 0.0'
        assert gauge in scrape_app(app)


def test_slow_aux_is_504_within_the_read_timeout(keys: Keys, secrets_root: Path) -> None:
    with (
        FakeUpstream(FakeReply(delay=3)) as slow,
        start_main(slow.url, keys, secrets_root, aux_read_timeout_seconds=0.5) as (_, _, http),
    ):
        started = time.monotonic()
        response = http.get("/buckets", headers=_auth(keys))
        elapsed = time.monotonic() - started
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "upstream_timeout"
        assert 0.4 < elapsed < 2
        assert len(slow.requests) == 1  # a timeout is not retried


@pytest.mark.parametrize("status", [500, 502])
def test_aux_5xx_is_502_without_its_body(keys: Keys, secrets_root: Path, status: int) -> None:
    reply = FakeReply(status=status, body={"error": {"code": "x", "message": "aux internals"}})
    with (
        FakeUpstream(reply) as failing,
        start_main(failing.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/parameters", headers=_auth(keys))
        assert response.status_code == 502
        assert "aux internals" not in response.text
        assert len(failing.requests) == 1  # a 5xx is not retried


@pytest.mark.parametrize(
    ("code", "retry_after", "passed_on"),
    [("aws_busy", "1", "1"), ("aws_unavailable", None, None), ("aws_busy", "soon", None)],
)
def test_aux_503_is_503_with_its_retry_after_and_without_its_body(
    keys: Keys, secrets_root: Path, code: str, retry_after: str | None, passed_on: str | None
) -> None:
    # aux-service shedding load (32 AWS calls running) or without AWS: main-api's own 503,
    # so a client waits as asked rather than retrying a 502 at once.
    reply = FakeReply(
        status=503,
        headers={"Retry-After": retry_after} if retry_after else {},
        body={"error": {"code": code, "message": "aux internals"}},
    )
    with (
        FakeUpstream(reply) as busy,
        start_main(busy.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/parameters/x", headers=_auth(keys))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "upstream_unavailable"
        assert response.headers.get("Retry-After") == passed_on
        assert "aux internals" not in response.text
        assert len(busy.requests) == 1  # an answer, not retried


def test_the_background_probe_carries_its_own_request_id(keys: Keys, secrets_root: Path) -> None:
    with (
        FakeUpstream(FakeReply(body={"status": "ok"})) as aux,
        start_main(aux.url, keys, secrets_root) as (_, _, http),
    ):
        assert http.get("/ready", headers={"X-Request-ID": "chosen-by-a-client"}).status_code == 200
        assert eventually(lambda: any(path == "/health" for _, path, _ in aux.requests))
        sent = [headers for _, path, headers in aux.requests if path == "/health"]
        ids = {{k.lower(): v for k, v in headers.items()}.get("x-request-id") for headers in sent}
        assert "chosen-by-a-client" not in ids
        assert all(id_ and len(id_) == 32 for id_ in ids), ids  # a fresh one of its own


def test_aux_throttling_passes_through_with_retry_after(keys: Keys, secrets_root: Path) -> None:
    reply = FakeReply(
        status=429,
        headers={"Retry-After": "7"},
        body={"error": {"code": "throttled", "message": "AWS is throttling"}},
    )
    with (
        FakeUpstream(reply) as throttled,
        start_main(throttled.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/parameters/x", headers=_auth(keys))
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"


def test_aux_refusing_the_service_token_is_502(keys: Keys, secrets_root: Path) -> None:
    with (
        FakeUpstream(FakeReply(status=401)) as refusing,
        start_main(refusing.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/buckets", headers=_auth(keys))
        assert response.status_code == 502
        assert "service token" in response.json()["error"]["message"]


def test_upstream_up_says_whether_aux_answered_and_health_how(
    keys: Keys, secrets_root: Path
) -> None:
    """upstream_up is 1 whatever aux-service answered (the readiness probe's /health call
    included) and 0 when it did not answer; /health's checks.aux_service says how it answered
    last, a tokenless call never clearing a refusal (docs/monitoring.md)."""
    envelope = {"error": {"code": "not_found", "message": "no parameter 'x'"}}
    answers = {"data": FakeReply(status=404, body=envelope)}

    def reply(path: str) -> FakeReply:
        return FakeReply(body={"status": "ok"}) if path == "/health" else answers["data"]

    def state(app: Any, http: Any) -> tuple[str, str]:
        up = 'upstream_up{service="main-api",upstream="aux-service"} 1.0' in scrape_app(app)
        return http.get("/health").json()["checks"]["aux_service"], "1" if up else "0"

    with (
        FakeUpstream(reply) as aux,
        start_main(aux.url, keys, secrets_root, aux_read_timeout_seconds=0.5) as (_, app, http),
    ):
        for answer, status, expected in [
            (FakeReply(status=404, body=envelope), 404, ("ok", "1")),
            (FakeReply(status=500), 502, ("failed", "1")),
            (FakeReply(status=504), 504, ("failed", "1")),
            (FakeReply(delay=1.5), 504, ("timeout", "0")),
            (FakeReply(status=401), 502, ("refused", "1")),
        ]:
            answers["data"] = answer
            assert http.get("/parameters/x", headers=_auth(keys)).status_code == status, answer
            assert state(app, http) == expected, answer
        probes = 'upstream_request_duration_seconds_count{operation="health",outcome="ok",'
        assert probes not in scrape_app(app)
        assert http.get("/ready").status_code == 200  # starts the background probe
        # Its outcome is counted in the same step as the state is set: once counted, decided.
        assert eventually(lambda: probes in scrape_app(app))
        # The probe's tokenless /health checks no token: the refusal stands.
        assert state(app, http) == ("refused", "1")
        answers["data"] = FakeReply(status=404, body=envelope)
        assert http.get("/parameters/x", headers=_auth(keys)).status_code == 404
        assert state(app, http) == ("ok", "1")


def test_a_token_rotated_here_first_goes_once_more_with_the_one_before(
    keys: Keys, secrets_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """main-api's mount has the new service token before aux-service's does: refused, the GET
    goes once more with the token before it, for SERVICE_TOKEN_GRACE_SECONDS; a token that
    aux-service accepts goes once."""
    old, new = keys.service_token, "rotated-" + keys.service_token
    accepted = {old}
    envelope = {"error": {"code": "not_found", "message": "no parameter 'x'"}}

    def reply(path: str) -> FakeReply:
        sent = {k.lower(): v for k, v in aux.requests[-1][2].items()}["x-service-token"]
        return FakeReply(status=404, body=envelope) if sent in accepted else FakeReply(401)

    def sent() -> list[str]:
        tokens = [{k.lower(): v for k, v in h.items()} for _, _, h in aux.requests]
        return [t["x-service-token"] for t in tokens]

    grace = {"service_token_grace_seconds": 1.0}
    aux = FakeUpstream(reply)
    with aux, start_main(aux.url, keys, secrets_root, **grace) as (_, _, http):
        assert http.get("/parameters/x", headers=_auth(keys)).status_code == 404
        (secrets_root / SERVICE_TOKEN_FILE).write_text(new)
        assert http.get("/parameters/x", headers=_auth(keys)).status_code == 404
        assert http.get("/parameters/x", headers=_auth(keys)).status_code == 404
        assert sent() == [old, new, old, new, old]
        accepted.add(new)  # aux-service's mount caught up
        assert http.get("/parameters/x", headers=_auth(keys)).status_code == 404
        assert sent()[5:] == [new]
        accepted.discard(new)
        time.sleep(1.1)  # the grace is over: the old token is no longer sent
        response = http.get("/parameters/x", headers=_auth(keys))
        assert response.status_code == 502
        assert "service token" in response.json()["error"]["message"]
        assert sent()[6:] == [new]
    log = capfd.readouterr().err
    assert log.count("refused the new service token") == 1  # once per token, not per call
    assert old not in log
    assert new not in log


def test_aux_garbage_is_502(keys: Keys, secrets_root: Path) -> None:
    with (
        FakeUpstream(FakeReply(body=b"<html>not json</html>")) as garbage,
        start_main(garbage.url, keys, secrets_root) as (_, _, http),
    ):
        assert http.get("/buckets", headers=_auth(keys)).status_code == 502


@pytest.fixture
def hanging_up_listener() -> Iterator[tuple[str, list[int]]]:
    """Accepts connections and closes them at once, counting them (a dying upstream)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def loop() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            connection.close()

    threading.Thread(target=loop, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()


def _retries(app: Any) -> str:
    return next(
        line for line in scrape_app(app).splitlines() if line.startswith("upstream_retries_total{")
    )


def test_refused_connections_are_retried_a_bounded_number_of_times(
    keys: Keys, secrets_root: Path
) -> None:
    with start_main(f"http://127.0.0.1:{free_port()}", keys, secrets_root, aux_max_retries=2) as (
        _,
        app,
        http,
    ):
        assert http.get("/buckets", headers=_auth(keys)).status_code == 503
        assert _retries(app).endswith(" 2.0")


def test_hang_ups_are_retried_a_bounded_number_of_times(
    keys: Keys, secrets_root: Path, hanging_up_listener: tuple[str, list[int]]
) -> None:
    url, accepted = hanging_up_listener
    with start_main(url, keys, secrets_root, aux_max_retries=2) as (_, app, http):
        response = http.get("/buckets", headers=_auth(keys))
        assert response.status_code == 503
        assert _retries(app).endswith(" 2.0")
        # Three tries, one connection each: the first try and two retries, no more.
        assert len(accepted) == 3


def test_missing_service_token_gives_503_not_a_call(keys: Keys, secrets_root: Path) -> None:
    (secrets_root / "service-token").unlink()
    with FakeUpstream(FakeReply()) as aux, start_main(aux.url, keys, secrets_root) as (_, _, http):
        response = http.get("/buckets", headers=_auth(keys))
        assert response.status_code == 503
        assert aux.requests == []


def test_an_oversized_aux_version_header_is_never_echoed(keys: Keys, secrets_root: Path) -> None:
    reply = FakeReply(body={"status": "ok"}, headers={"X-Aux-Service-Version": "9" * 60_000})
    with FakeUpstream(reply) as aux, start_main(aux.url, keys, secrets_root) as (_, _, http):
        http.get("/version")  # main-api calls aux-service's /version, and reads the header
        assert aux.requests
        health = http.get("/health")
        assert health.headers["X-Aux-Service-Version"] == "unknown"
        assert health.json()["meta"]["aux_service_version"] == "unknown"


VERSION_BODY = {
    "service": "aux-service",
    "version": "1.2.3",
    "git_sha": "0123456789abcdef0123456789abcdef01234567-dirty",
    "build_time": "2026-12-02T15:00:00Z",
}
BAD_VERSION_BODIES = {
    "a huge version": {**VERSION_BODY, "version": "9" * 60_000},
    "a git_sha with a newline": {**VERSION_BODY, "git_sha": "abc\nInjected: yes"},
    "a build_time with markup": {**VERSION_BODY, "build_time": "<script>x</script>"},
    "an empty service": {**VERSION_BODY, "service": ""},
}


def test_aux_version_fields_are_repeated_when_they_are_short_tokens(
    keys: Keys, secrets_root: Path
) -> None:
    with (
        FakeUpstream(FakeReply(body={**VERSION_BODY, "meta": {}})) as aux,
        start_main(aux.url, keys, secrets_root) as (_, _, http),
    ):
        assert http.get("/version").json()["aux_service"] == VERSION_BODY


@pytest.mark.parametrize("body", BAD_VERSION_BODIES.values(), ids=BAD_VERSION_BODIES.keys())
def test_aux_version_fields_that_are_no_short_token_are_never_repeated(
    keys: Keys, secrets_root: Path, body: object, capfd: pytest.CaptureFixture[str]
) -> None:
    """aux-service's /version body is repeated on main-api's public /version: a field that is
    no short token (huge, control characters, markup) makes the whole body unusable."""
    with (
        FakeUpstream(FakeReply(body=body)) as aux,
        start_main(aux.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/version")
        assert response.status_code == 200
        assert response.json()["aux_service"] is None
        assert len(response.content) < 2_000
    log = capfd.readouterr().err
    assert "Traceback" not in log
    assert log.count("unexpected shape") == 1


def test_an_aux_error_body_nested_too_deep_is_its_status_with_main_apis_message(
    keys: Keys, secrets_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """aux-service's own 404 passes through with its code and message when its envelope
    parses; a body nested deeper than the JSON parser's recursion limit parses as nothing,
    like any other unreadable envelope (it was a 500 with a traceback)."""
    nested = b"[" * 100_000 + b"]" * 100_000
    with (
        FakeUpstream(FakeReply(status=404, body=nested)) as aux,
        start_main(aux.url, keys, secrets_root) as (_, _, http),
    ):
        response = http.get("/parameters/x", headers=_auth(keys))
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("not_found", "aux-service answered 404")
    assert "Traceback" not in capfd.readouterr().err


SHAPES = {
    "a list": [],
    "an empty object": {},
    "null": None,
    "a string": "buckets",
    "buckets not a list": {"buckets": "x", "count": 1},
    "a bucket without a name": {"buckets": [{}], "count": 1},
}


@pytest.mark.parametrize("body", SHAPES.values(), ids=SHAPES.keys())
def test_an_unexpected_aux_body_is_502_in_one_log_line(
    keys: Keys, secrets_root: Path, body: object, capfd: pytest.CaptureFixture[str]
) -> None:
    with (
        FakeUpstream(FakeReply(body=body)) as aux,
        start_main(aux.url, keys, secrets_root) as (_, _, http),
    ):
        for path in ("/buckets", "/parameters", "/parameters/x"):
            response = http.get(path, headers=_auth(keys))
            assert response.status_code == 502, path
            assert response.json()["error"]["code"] == "upstream_error"
        version = http.get("/version")
        assert version.status_code == 200
        assert version.json()["aux_service"] is None
    log = capfd.readouterr().err
    assert "Traceback" not in log
    assert log.count("unexpected shape") == 4
