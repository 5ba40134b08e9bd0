"""Parameter reads: values, masking, listing, validation before any AWS call."""

import pytest

from kontaxa_common.parameters import MAX_NAME_LENGTH, MAX_SEGMENTS

from .conftest import Aux


def test_string_parameter_returns_its_value(aux: Aux) -> None:
    response = aux.get("/parameters/welcome-message")
    assert response.status_code == 200
    parameter = response.json()["parameter"]
    assert parameter == {
        **parameter,
        "name": "welcome-message",
        "full_name": "/kontaxa/app/welcome-message",
        "type": "String",
        "secure": False,
        "value": "Welcome to Kontaxa",
        "version": 1,
    }


def test_secure_string_is_masked(aux: Aux) -> None:
    secret = aux.data.secure["db/password"]
    response = aux.get("/parameters/db/password")
    assert response.status_code == 200
    parameter = response.json()["parameter"]
    assert parameter["type"] == "SecureString"
    assert parameter["secure"] is True
    assert parameter["value"] is None
    assert parameter["version"] == 1
    assert secret not in response.text


def test_list_is_recursive_paginated_and_masked(aux: Aux) -> None:
    response = aux.get("/parameters")
    assert response.status_code == 200
    body = response.json()
    assert body["prefix"] == "/kontaxa/app"
    names = [p["name"] for p in body["parameters"]]
    # 15 parameters: more than one SSM page (10), nested paths included, nothing outside.
    assert sorted(names) == aux.data.names
    assert body["count"] == len(aux.data.names)
    assert aux.calls["GetParametersByPath"] >= 2
    secure = [p for p in body["parameters"] if p["secure"]]
    assert [p["value"] for p in secure] == [None]
    assert aux.data.secure["db/password"] not in response.text
    assert "outside" not in response.text


def test_unknown_parameter_is_404(aux: Aux) -> None:
    response = aux.get("/parameters/does-not-exist")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "does-not-exist" in error["message"]


BAD_NAMES = {
    "bad characters": "we!rd",
    "space": "a%20b",
    "dot-dot segment": "a/../b",
    "leading dot-dot": "../other/secret",
    "encoded slashes and dots": "a%2F..%2Fb",
    "encoded dots": "%2e%2e/other",
    "double-encoded slash": "a%252Fb",
    "over-long": "a" * 1012,
    "prefix escape (absolute name)": "/other/secret",
    "empty segment": "a//b",
    "trailing slash": "a/",
    "dot segment": "./a",
    "unicode look-alike": "w%D0%B5lcome",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_400_without_aws_call(aux: Aux, name: str) -> None:
    status, body = aux.get_as_is(f"/parameters/{name}")
    assert status == 400, body
    assert body["error"]["code"] == "invalid_parameter_name"
    assert sum(aux.calls.values()) == 0


def test_empty_name_is_not_a_parameter_read(aux: Aux) -> None:
    # "/parameters/" has an empty name: it must not reach SSM.
    response = aux.get("/parameters/")
    assert response.status_code in {400, 404}
    assert sum(aux.calls.values()) == 0


def test_name_at_the_length_limit_reaches_ssm(aux: Aux) -> None:
    # The longest name the schema allows (MAX_NAME_LENGTH) and the deepest: valid, so SSM is
    # asked (and says not found); one character more is refused before any call.
    deepest = "/".join(["a"] * MAX_SEGMENTS)
    for name in ("a" * MAX_NAME_LENGTH, deepest):
        response = aux.get(f"/parameters/{name}")
        assert response.status_code == 404, response.text
    assert aux.calls["GetParameter"] == 2
    for name in ("a" * (MAX_NAME_LENGTH + 1), deepest + "/a"):
        response = aux.get(f"/parameters/{name}")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_parameter_name"
    assert aux.calls["GetParameter"] == 2
