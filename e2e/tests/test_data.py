"""Data through main-api matches what Terraform put into the emulator."""

from collections.abc import Callable

import httpx

from kontaxa_e2e.targets import PARAMETER_PREFIX, Target


def test_buckets_include_the_terraform_bucket(
    target: Target, main: httpx.Client, auth: Callable[[], dict[str, str]]
) -> None:
    expected = {b["Name"] for b in target.aws("s3").list_buckets()["Buckets"]}
    assert any(name.startswith("kontaxa-demo-") for name in expected)
    body = main.get("/buckets", headers=auth()).json()
    assert {b["name"] for b in body["buckets"]} == expected


def test_parameters_list_everything_under_the_prefix(
    target: Target, main: httpx.Client, auth: Callable[[], dict[str, str]]
) -> None:
    paginator = target.aws("ssm").get_paginator("get_parameters_by_path")
    expected = {
        p["Name"]: p["Type"]
        for page in paginator.paginate(Path=PARAMETER_PREFIX, Recursive=True)
        for p in page["Parameters"]
    }
    assert {"String", "SecureString"} <= set(expected.values())
    body = main.get("/parameters", headers=auth()).json()
    assert body["prefix"] == PARAMETER_PREFIX
    assert {p["full_name"]: p["type"] for p in body["parameters"]} == expected
    assert all(p["value"] is None for p in body["parameters"] if p["type"] == "SecureString")


def test_string_value_and_masked_secure_string(
    target: Target, main: httpx.Client, auth: Callable[[], dict[str, str]]
) -> None:
    ssm = target.aws("ssm")
    welcome = ssm.get_parameter(Name=f"{PARAMETER_PREFIX}/welcome-message")["Parameter"]
    body = main.get("/parameters/welcome-message", headers=auth()).json()["parameter"]
    assert body["value"] == welcome["Value"]
    assert body["version"] == welcome["Version"]
    secure = ssm.get_parameter(Name=f"{PARAMETER_PREFIX}/db/password", WithDecryption=True)[
        "Parameter"
    ]["Value"]
    response = main.get("/parameters/db/password", headers=auth())
    assert response.json()["parameter"] | {"last_modified": None} == {
        "name": "db/password",
        "full_name": f"{PARAMETER_PREFIX}/db/password",
        "type": "SecureString",
        "secure": True,
        "value": None,
        "version": 1,
        "last_modified": None,
    }
    assert secure not in response.text
