"""aux-service endpoints: operations, auth, version metadata, metrics and OpenAPI."""

import time
from pathlib import Path

from kontaxa_e2e.emulator import Emulator
from kontaxa_e2e.inprocess import SeedData, scrape_app

from .conftest import Aux

META = {
    "aux_service_version": "1.4.0-test",
    "git_sha": "aux0sha",
    "build_time": "2026-01-01T00:00:00Z",
}


def test_health_needs_nothing(aux: Aux) -> None:
    response = aux.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "meta": META}
    assert aux.calls.total() == 0


def test_a_trailing_slash_is_404_not_a_redirect_to_the_host_sent(aux: Aux) -> None:
    # Starlette's default answered 307 to http://evil.example/buckets, before the token check.
    response = aux.http.get("/buckets/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "location" not in response.headers


def test_ready_checks_aws_and_secrets(aux: Aux) -> None:
    response = aux.http.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"aws": "ok", "secrets": "ok"}


def test_ready_fails_without_the_service_token(aux: Aux, secrets_root: Path) -> None:
    (secrets_root / "service-token").unlink()
    response = aux.http.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["secrets"] == "missing"


def test_version(aux: Aux) -> None:
    response = aux.http.get("/version")
    assert response.json() == {
        "service": "aux-service",
        "version": "1.4.0-test",
        "git_sha": "aux0sha",
        "build_time": "2026-01-01T00:00:00Z",
        "meta": META,
    }
    assert response.headers["X-Aux-Service-Version"] == "1.4.0-test"


def test_buckets_lists_s3(aux: Aux) -> None:
    response = aux.get("/buckets")
    assert response.status_code == 200
    body = response.json()
    assert [b["name"] for b in body["buckets"]] == [aux.data.bucket]
    assert body["count"] == 1
    assert aux.calls["ListBuckets"] == 1


def test_data_endpoints_require_the_service_token(aux: Aux) -> None:
    for path in ("/buckets", "/parameters", "/parameters/welcome-message"):
        missing = aux.http.get(path)
        wrong = aux.http.get(path, headers={"X-Service-Token": "not-the-token"})
        for response in (missing, wrong):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthenticated"
            assert response.json()["meta"] == META
    assert aux.calls.total() == 0


def test_rotated_service_token_is_picked_up_with_a_grace_period(
    aux: Aux, secrets_root: Path
) -> None:
    old = aux.keys.service_token
    assert aux.http.get("/buckets", headers={"X-Service-Token": old}).status_code == 200
    (secrets_root / "service-token").write_text("rotated-token-value-123")
    new = {"X-Service-Token": "rotated-token-value-123"}
    assert aux.http.get("/buckets", headers=new).status_code == 200
    # main-api's mount may rotate later: the old token works during the grace period ...
    assert aux.http.get("/buckets", headers={"X-Service-Token": old}).status_code == 200
    # ... and only the one before the current; an older one never.
    (secrets_root / "service-token").write_text("rotated-again-value-456")
    assert aux.http.get("/buckets", headers={"X-Service-Token": old}).status_code == 401


def test_an_empty_token_file_never_becomes_an_accepted_credential(
    aux: Aux, secrets_root: Path
) -> None:
    token = secrets_root / "service-token"
    token.write_text("")  # blanked (or caught between truncate and write)
    assert aux.http.get("/buckets").status_code == 401
    token.write_text("the-token-after-the-blank")
    for headers in ({}, {"X-Service-Token": ""}):
        for path in ("/buckets", "/parameters", "/parameters/welcome-message"):
            response = aux.http.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
    assert aux.calls.total() == 0
    new = {"X-Service-Token": "the-token-after-the-blank"}
    assert aux.http.get("/buckets", headers=new).status_code == 200


def test_a_non_utf8_token_file_is_a_missing_token(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    from .conftest import start_aux

    with start_aux(emulator.url, secrets_root, seeded, service_token_grace_seconds=0) as aux:
        (secrets_root / "service-token").write_bytes(b"\xff\xfe\x80 not text")
        for _ in range(3):
            response = aux.get("/buckets")
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "not_ready"
        assert aux.http.get("/ready").status_code == 503
        (secrets_root / "service-token").write_text("a-valid-token-again")
        valid = {"X-Service-Token": "a-valid-token-again"}
        assert aux.http.get("/buckets", headers=valid).status_code == 200


def test_previous_service_token_expires_after_the_grace(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    from .conftest import start_aux

    with start_aux(emulator.url, secrets_root, seeded, service_token_grace_seconds=2.0) as aux:
        old = {"X-Service-Token": aux.keys.service_token}
        assert aux.http.get("/buckets", headers=old).status_code == 200
        (secrets_root / "service-token").write_text("rotated-token-value-789")
        assert aux.http.get("/buckets", headers=old).status_code == 200
        time.sleep(2.1)
        assert aux.http.get("/buckets", headers=old).status_code == 401


def test_every_response_carries_version_metadata(aux: Aux) -> None:
    for path in (
        "/health",
        "/version",
        "/buckets",
        "/parameters/nope",
        "/parameters/a..b/../c",
        "/no-such-endpoint",
    ):
        response = aux.get(path)
        assert response.headers["X-Aux-Service-Version"] == "1.4.0-test", path
        assert response.json()["meta"] == META, path
        assert response.headers["X-Request-ID"]


def test_request_id_is_propagated_or_generated(aux: Aux) -> None:
    assert (
        aux.http.get("/health", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"]
        == "trace-42"
    )
    generated = aux.http.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32
    bad = aux.http.get("/health", headers={"X-Request-ID": "x" * 200})
    assert bad.status_code == 400
    assert bad.headers["X-Request-ID"] != "x" * 200
    assert "X-Request-ID" in bad.json()["error"]["message"]


def test_metrics_by_route_template_on_their_own_port_only(aux: Aux) -> None:
    """The metrics listener serves the counters; the app port answers 404 like any unknown path."""
    aux.get("/parameters/welcome-message")
    aux.get("/parameters/feature-flags")
    on_app_port = aux.http.get("/metrics")
    assert on_app_port.status_code == 404
    assert on_app_port.json()["error"]["code"] == "not_found"
    text = scrape_app(aux.app)
    assert 'route="/metrics"' not in text  # a scrape is no request of the app
    assert (
        'http_requests_total{method="GET",route="/parameters/{name:path}",'
        'service="aux-service",status="200"} 2.0'
    ) in text
    assert (
        'upstream_request_duration_seconds_count{operation="GetParameter",outcome="ok",'
        'service="aux-service",upstream="aws"} 2.0' in text
    )


def test_openapi_documents_every_endpoint_and_error(aux: Aux) -> None:
    schema = aux.http.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/health",
        "/ready",
        "/version",
        "/buckets",
        "/parameters",
        "/parameters/{name}",
    }
    responses = paths["/parameters/{name}"]["get"]["responses"]
    assert {"200", "400", "401", "403", "404", "429", "502", "503", "504"} <= set(responses)
    assert "X-Service-Token" in str(schema["components"]["securitySchemes"])


def test_unhandled_error_is_an_enveloped_500(
    emulator: Emulator, seeded: SeedData, secrets_root: Path
) -> None:
    from .conftest import start_aux

    with start_aux(emulator.url, secrets_root, seeded) as aux:

        async def explode() -> None:
            raise RuntimeError("internal detail that must not leak")

        aux.app.state.aws.list_buckets = explode
        response = aux.get("/buckets")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "internal detail" not in response.text
        assert response.headers["X-Aux-Service-Version"] == "1.4.0-test"


def test_unknown_methods_are_enveloped(aux: Aux) -> None:
    response = aux.http.post("/buckets")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["meta"] == META
