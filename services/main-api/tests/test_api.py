"""main-api endpoints against a real aux-service: data, auth, metadata, metrics, OpenAPI."""

from pathlib import Path

import pytest

from kontaxa_e2e.inprocess import Keys, scrape_app
from kontaxa_e2e.servers import eventually

from .conftest import MAIN_META, Stack, start_main


def test_health_and_ready(stack: Stack) -> None:
    assert stack.http.get("/health").json()["status"] == "ok"
    ready = stack.http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"secrets": "ok"}
    # The probe checked aux-service in the background: /health tells how it answered.
    assert eventually(
        lambda: stack.http.get("/health").json()["checks"] == {"aux_service": "ok"}, timeout=5
    )


@pytest.mark.parametrize("path", ["/buckets/", "/health/", "/version/"])
def test_a_trailing_slash_is_404_not_a_redirect_to_the_host_sent(stack: Stack, path: str) -> None:
    # Starlette's default answered 307 to http://evil.example/buckets, unauthenticated.
    response = stack.http.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "location" not in response.headers


def test_ready_fails_without_api_keys(stack: Stack) -> None:
    for path in stack.secrets_dir.glob("api-key-*"):
        path.unlink()
    ready = stack.http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["secrets"] == "missing"


def test_version_includes_aux(stack: Stack) -> None:
    body = stack.http.get("/version").json()
    assert body["service"] == "main-api"
    assert body["version"] == "2.3.0-test"
    assert body["aux_service"] == {
        "service": "aux-service",
        "version": "1.4.0-test",
        "git_sha": "aux0sha",
        "build_time": "2026-01-01T00:00:00Z",
    }
    assert body["meta"] == MAIN_META


def test_buckets(stack: Stack) -> None:
    body = stack.get("/buckets").json()
    assert [b["name"] for b in body["buckets"]] == [stack.data.bucket]
    assert body["meta"] == MAIN_META


def test_parameters_list_and_get(stack: Stack) -> None:
    listing = stack.get("/parameters").json()
    assert sorted(p["name"] for p in listing["parameters"]) == stack.data.names
    one = stack.get("/parameters/welcome-message").json()["parameter"]
    assert one["value"] == "Welcome to Kontaxa"
    secure = stack.get("/parameters/db/password")
    assert secure.json()["parameter"]["value"] is None
    assert stack.data.secure["db/password"] not in secure.text + stack.get("/parameters").text


def test_unknown_parameter_is_404(stack: Stack) -> None:
    response = stack.get("/parameters/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["meta"] == MAIN_META


@pytest.mark.parametrize("path", ["/buckets", "/parameters", "/parameters/welcome-message"])
def test_data_endpoints_require_a_valid_bearer_key(stack: Stack, path: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {stack.keys.api_keys['primary']}"},
        {"Authorization": stack.keys.api_keys["primary"]},
    ):
        response = stack.http.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthenticated"
    assert stack.aux_requests("/buckets") + stack.aux_requests("/parameters") == 0


def test_both_keys_work_and_rotation_is_picked_up(stack: Stack) -> None:
    assert stack.get("/buckets", key=stack.keys.api_keys["secondary"]).status_code == 200
    old = stack.keys.api_keys["primary"]
    (stack.secrets_dir / "api-key-primary").write_text("rotated-primary-key-0123")
    assert stack.get("/buckets", key=old).status_code == 401
    assert stack.get("/buckets", key="rotated-primary-key-0123").status_code == 200


def test_open_endpoints_need_no_key(stack: Stack) -> None:
    for path in ("/health", "/ready", "/version"):
        assert stack.http.get(path).status_code == 200, path


BAD_NAMES = {
    "bad characters": "we!rd",
    "control character": "a%00b",
    "dot-dot segment": "a/../b",
    "leading dot-dot": "../other/secret",
    "encoded slashes": "a%2F..%2Fb",
    "encoded dots": "%2e%2e/other",
    "over-long": "a" * 1012,
    "prefix escape": "/other/secret",
    "empty segment": "a//b",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_400_before_any_upstream_call(stack: Stack, name: str) -> None:
    status, body = stack.get_as_is(f"/parameters/{name}")
    assert status == 400
    assert body["error"]["code"] == "invalid_parameter_name"
    assert body["meta"]["main_api_version"] == "2.3.0-test"
    assert stack.aux_requests("/parameters/{name:path}") == 0
    assert stack.calls.total() == 0


def test_every_response_carries_version_metadata(stack: Stack) -> None:
    stack.http.get("/version")  # aux's version is known from here on
    for path, status in (
        ("/health", 200),
        ("/buckets", 200),
        ("/parameters/nope", 404),
        ("/parameters/a%20b", 400),
        ("/no-such-endpoint", 404),
    ):
        response = stack.get(path)
        assert response.status_code == status, path
        assert response.headers["X-Main-Api-Version"] == "2.3.0-test"
        assert response.headers["X-Aux-Service-Version"] == "1.4.0-test"
        assert response.json()["meta"] == MAIN_META
    unauthenticated = stack.http.get("/buckets")
    assert unauthenticated.json()["meta"] == MAIN_META


def test_request_id_reaches_aux_service(stack: Stack) -> None:
    response = stack.get("/parameters/welcome-message", headers={"X-Request-ID": "e2e-trace-1"})
    assert response.headers["X-Request-ID"] == "e2e-trace-1"
    # aux-service labels its metrics, not its IDs; its access log has the ID (see test_logs).
    assert stack.aux_requests("/parameters/{name:path}") == 1


def test_metrics_on_their_own_port_only(stack: Stack) -> None:
    """The metrics listener serves the counters; the app port (the Ingress's) does not."""
    stack.get("/parameters/welcome-message")
    on_app_port = stack.http.get("/metrics")
    assert on_app_port.status_code == 404
    assert on_app_port.json()["error"]["code"] == "not_found"
    text = scrape_app(stack.main_app)
    assert (
        'http_requests_total{method="GET",route="/parameters/{name:path}",'
        'service="main-api",status="200"} 1.0'
    ) in text
    assert (
        'upstream_request_duration_seconds_count{operation="get_parameter",outcome="ok",'
        'service="main-api",upstream="aux-service"} 1.0'
    ) in text


def test_openapi_is_complete(stack: Stack) -> None:
    schema = stack.http.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/health",
        "/ready",
        "/version",
        "/buckets",
        "/parameters",
        "/parameters/{name}",
    }
    expected = {
        "/buckets": {"200", "401", "403", "429", "502", "503", "504"},
        "/parameters": {"200", "401", "403", "429", "502", "503", "504"},
        "/parameters/{name}": {"200", "400", "401", "403", "404", "429", "502", "503", "504"},
        "/ready": {"200", "503"},
    }
    for path, statuses in expected.items():
        assert statuses <= set(schema["paths"][path]["get"]["responses"]), path
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_off_unless_api_docs_is_set(path: str, secrets_root: Path) -> None:
    keys = Keys()
    keys.write(secrets_root)
    with start_main("http://127.0.0.1:9", keys, secrets_root, api_docs=False) as (_, _, http):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    with start_main("http://127.0.0.1:9", keys, secrets_root) as (_, _, http):
        assert http.get(path).status_code == 200
