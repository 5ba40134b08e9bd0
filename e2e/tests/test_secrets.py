"""Secret injection and rotation, proved through the services and the emulator."""

from collections.abc import Callable

import httpx
import pytest

from kontaxa_e2e.servers import eventually
from kontaxa_e2e.targets import API_KEYS_SECRET, SERVICES, Target, digest


def test_aux_service_requires_the_injected_token(target: Target, aux: httpx.Client) -> None:
    assert aux.get("/buckets").status_code == 401
    assert aux.get("/buckets", headers={"X-Service-Token": "guess"}).status_code == 401
    ok = aux.get("/buckets", headers={"X-Service-Token": target.service_token()})
    assert ok.status_code == 200


def test_main_api_calls_succeed_with_the_injected_token(
    main: httpx.Client, auth: Callable[[], dict[str, str]]
) -> None:
    assert main.get("/parameters/welcome-message", headers=auth()).status_code == 200


def test_pods_read_exactly_the_emulator_values(target: Target) -> None:
    if not target.can_read_mounts:
        pytest.skip(f"the {target.name} target cannot read the pods' secret files")
    for service in SERVICES:
        assert target.mounted_digests(service) == target.expected_mounts(service), service


def test_rotation_new_key_works_old_key_fails(disturbable: Target, main: httpx.Client) -> None:
    import json
    import secrets

    target = disturbable
    old = target.api_key()
    document = json.loads(target.secret(API_KEYS_SECRET))
    document["primary"] = "rotated-" + secrets.token_urlsafe(16)
    target.aws("secretsmanager").put_secret_value(
        SecretId=API_KEYS_SECRET, SecretString=json.dumps(document)
    )
    target.remount_secrets()

    def status(key: str) -> int:
        return main.get("/buckets", headers={"Authorization": f"Bearer {key}"}).status_code

    assert eventually(lambda: status(document["primary"]) == 200)
    assert status(old) == 401
    assert target.mounted_digests("main-api")["api-key-primary"] == digest(document["primary"])
