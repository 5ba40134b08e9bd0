"""Logs: one JSON line per request with its ID; no secret value or bearer key, ever."""

from kontaxa_e2e.logs import capture_service_logs

from .conftest import Stack


def test_request_id_is_logged_by_both_services(stack: Stack) -> None:
    with capture_service_logs() as logs:
        stack.get("/parameters/welcome-message", headers={"X-Request-ID": "e2e-trace-1"})
    access = {r["logger"]: r for r in logs.records() if r["logger"].startswith("kontaxa.access")}
    assert access["kontaxa.access.main-api"]["request_id"] == "e2e-trace-1"
    assert access["kontaxa.access.aux-service"]["request_id"] == "e2e-trace-1"
    assert access["kontaxa.access.main-api"]["route"] == "/parameters/{name:path}"
    assert access["kontaxa.access.main-api"]["status"] == 200


def test_secrets_and_keys_never_reach_the_logs(stack: Stack) -> None:
    secret_values = [
        stack.keys.service_token,
        *stack.keys.api_keys.values(),
        stack.data.secure["db/password"],
    ]
    with capture_service_logs() as logs:
        for key in stack.keys.api_keys.values():
            stack.get("/buckets", key=key)
            stack.get("/parameters/db/password", key=key)
            stack.get("/parameters", key=key)
        stack.get("/buckets", key=stack.keys.service_token)  # a secret sent where it is wrong
        stack.http.get("/ready")
        # Even code that tried to log a secret would be redacted.
        import logging

        logging.getLogger("test").warning("leak attempt %s", stack.keys.api_keys["primary"])
    records = logs.records()
    assert len([r for r in records if r["logger"].startswith("kontaxa.access")]) >= 9
    assert "[REDACTED]" in logs.text
    for value in secret_values:
        assert value not in logs.text
    assert "Bearer" not in logs.text
