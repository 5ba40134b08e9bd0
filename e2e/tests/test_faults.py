"""Faults end to end: a stopped aux-service or emulator, and hostile input through main-api."""

import time
from collections.abc import Callable
from secrets import token_urlsafe

import httpx
import pytest

from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import SERVICE_TOKEN_SECRET, ProcessTarget, Target


def test_aux_service_down_gives_503_then_recovers(
    disturbable: Target, main: httpx.Client, auth: Callable[[], dict[str, str]]
) -> None:
    headers = auth()
    disturbable.stop("aux-service")
    try:
        started = time.monotonic()
        response = main.get("/parameters/welcome-message", headers=headers)
        assert response.status_code == 503
        assert time.monotonic() - started < 5  # within main-api's timeouts, no hang
        # main-api stays ready (it answers its own 503); /health tells aux-service's state.
        assert main.get("/ready").status_code == 200
        assert main.get("/health").json()["checks"]["aux_service"] == "unreachable"
    finally:
        disturbable.start("aux-service")
    assert eventually(
        lambda: main.get("/parameters/welcome-message", headers=headers).status_code == 200
    )


def test_emulator_down_gives_503_from_aux_then_recovers(
    disturbable: Target, aux: httpx.Client
) -> None:
    if not disturbable.can_stop("emulator"):
        pytest.skip(f"the {disturbable.name} target does not stop its emulator")
    token = {"X-Service-Token": disturbable.service_token()}
    disturbable.stop("emulator")
    try:
        assert aux.get("/parameters/not-cached-name", headers=token).status_code == 503
        assert eventually(lambda: aux.get("/ready").status_code == 503, timeout=15)
        assert aux.get("/health").status_code == 200
    finally:
        disturbable.start("emulator")
    fresh = {"X-Service-Token": disturbable.service_token()}
    assert eventually(lambda: aux.get("/ready").status_code == 200, timeout=60)
    assert eventually(lambda: aux.get("/buckets", headers=fresh).status_code == 200)


def test_a_stack_left_broken_is_seen(disturbable: Target) -> None:
    """What the check after every test (conftest) rests on: a part down, a secret the pods
    have not mounted, or a secret file missing, is named; the whole stack is not."""
    if not isinstance(disturbable, ProcessTarget):
        pytest.skip(f"the {disturbable.name} target cannot tell whether it is whole")
    assert disturbable.broken() is None
    disturbable.stop("aux-service")
    try:
        assert disturbable.broken() == "not ready: aux-service"
    finally:
        disturbable.start("aux-service")
    secrets = disturbable.aws("secretsmanager")
    secrets.put_secret_value(SecretId=SERVICE_TOKEN_SECRET, SecretString=token_urlsafe(32))
    try:
        assert disturbable.broken() == (
            "mounted secrets other than the emulator's: main-api service-token, "
            "aux-service service-token"
        )
    finally:
        disturbable.remount_secrets()
    assert disturbable.broken() is None
    (disturbable.runtime.host_path("main-api", "/mnt/secrets") / "api-keys").unlink()
    try:
        assert (
            disturbable.broken() == "mounted secrets other than the emulator's: main-api api-keys"
        )
    finally:
        disturbable.remount_secrets()
    assert disturbable.broken() is None


BAD_INPUTS = ["we!rd", "a%20b", "%2e%2e/x", "a%2F..%2Fb", "x" * 1012, "a//b", "a%00b"]


@pytest.mark.parametrize("name", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_through_main_api_is_4xx(
    main: httpx.Client, auth: Callable[[], dict[str, str]], name: str
) -> None:
    response = main.get(f"/parameters/{name}", headers=auth())
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == "invalid_parameter_name"
