"""The library against a real moto server: every `objects` form, jmesPath, versions, errors."""

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from kontaxa_local.process_runtime import free_port
from secrets_provider import (
    MountError,
    ObjectContentError,
    ObjectNotFoundError,
    ObjectSpecError,
    SecretFile,
    StoreError,
    WriteError,
    fetch_files,
    fetch_files_for_parameters,
    mount_directory,
)

REGION = "us-east-1"


def by_path(files: list[SecretFile]) -> dict[str, tuple[bytes, int]]:
    return {file.path: (file.contents, file.mode) for file in files}


def test_main_api_class_mounts_the_contract_files(
    store: Any, contract_secrets: dict[str, dict[str, str]], main_api_objects: str
) -> None:
    files, versions = fetch_files(main_api_objects, region=REGION, endpoint_url=store.url)

    token_version = contract_secrets["kontaxa/service-token"]["version"]
    keys_version = contract_secrets["kontaxa/api-keys"]["version"]
    assert [file.path for file in files] == [
        "service-token",
        "api-keys",
        "api-key-primary",
        "api-key-secondary",
    ]
    assert by_path(files) == {
        "service-token": (b"token-0123456789abcdef", 0o644),
        "api-keys": (b'{"primary": "primary-key-1111", "secondary": "secondary-key-2222"}', 0o644),
        "api-key-primary": (b"primary-key-1111", 0o644),
        "api-key-secondary": (b"secondary-key-2222", 0o644),
    }
    assert versions == {
        "service-token": token_version,
        "api-keys": keys_version,
        "api-key-primary": keys_version,
        "api-key-secondary": keys_version,
    }
    assert token_version != keys_version


def test_secret_by_arn_without_type_or_alias_is_named_after_the_arn(
    store: Any, contract_secrets: dict[str, dict[str, str]]
) -> None:
    arn = contract_secrets["kontaxa/service-token"]["arn"]

    files, versions = fetch_files(f"- objectName: {arn}\n", region=REGION, endpoint_url=store.url)

    file_name = arn.replace("/", "_")
    assert by_path(files) == {file_name: (b"token-0123456789abcdef", 0o644)}
    assert versions == {file_name: contract_secrets["kontaxa/service-token"]["version"]}


def test_secret_name_without_alias_has_slashes_translated(
    store: Any, contract_secrets: dict[str, dict[str, str]]
) -> None:
    objects = "- {objectName: kontaxa/service-token, objectType: secretsmanager}"

    default, _ = fetch_files(objects, region=REGION, endpoint_url=store.url)
    dashed, _ = fetch_files(objects, region=REGION, endpoint_url=store.url, path_translation="-")

    assert [file.path for file in default] == ["kontaxa_service-token"]
    assert [file.path for file in dashed] == ["kontaxa-service-token"]


def test_secret_version_and_label_select_older_values(store: Any) -> None:
    first = store.create_secret("kontaxa/api-keys", '{"primary": "old"}')["version"]
    second = store.rotate_secret("kontaxa/api-keys", '{"primary": "new"}')
    objects = f"""
- {{objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: current}}
- {{objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: pinned,
   objectVersion: {first}}}
- {{objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: previous,
   objectVersionLabel: AWSPREVIOUS, jmesPath: [{{path: primary, objectAlias: previous-primary}}]}}
"""
    files, versions = fetch_files(objects, region=REGION, endpoint_url=store.url)

    contents = {path: value for path, (value, _) in by_path(files).items()}
    assert contents == {
        "current": b'{"primary": "new"}',
        "pinned": b'{"primary": "old"}',
        "previous": b'{"primary": "old"}',
        "previous-primary": b"old",
    }
    assert versions == {
        "current": second,
        "pinned": first,
        "previous": first,
        "previous-primary": first,
    }


def test_binary_secret_is_mounted_byte_for_byte(store: Any) -> None:
    store.create_secret("kontaxa/blob", b"\x00\xffbinary")

    files, _ = fetch_files(
        "- {objectName: kontaxa/blob, objectType: secretsmanager, objectAlias: blob}",
        region=REGION,
        endpoint_url=store.url,
    )

    assert by_path(files) == {"blob": (b"\x00\xffbinary", 0o644)}


def test_ssm_parameters_by_name_arn_version_and_label(store: Any) -> None:
    store.put_parameter("/kontaxa/app/welcome-message", "Welcome v1")
    store.put_parameter("/kontaxa/app/welcome-message", "Welcome to Kontaxa")
    store.put_parameter("/kontaxa/app/db/password", "s3cret-pw", kind="SecureString")
    store.client("ssm").label_parameter_version(
        Name="/kontaxa/app/welcome-message", ParameterVersion=1, Labels=["stable"]
    )
    arn = f"arn:aws:ssm:{REGION}:123456789012:parameter/kontaxa/app/welcome-message"
    objects = f"""
- {{objectName: /kontaxa/app/welcome-message, objectType: ssmparameter}}
- {{objectName: /kontaxa/app/db/password, objectType: ssmparameter, objectAlias: db-password}}
- {{objectName: "{arn}", objectAlias: by-arn}}
- {{objectName: /kontaxa/app/welcome-message, objectType: ssmparameter, objectAlias: v1,
   objectVersion: "1"}}
- {{objectName: /kontaxa/app/welcome-message, objectType: ssmparameter, objectAlias: stable,
   objectVersionLabel: stable}}
"""
    files, versions = fetch_files(objects, region=REGION, endpoint_url=store.url)

    contents = {path: value for path, (value, _) in by_path(files).items()}
    assert contents == {
        "_kontaxa_app_welcome-message": b"Welcome to Kontaxa",
        "db-password": b"s3cret-pw",
        "by-arn": b"Welcome to Kontaxa",
        "v1": b"Welcome v1",
        "stable": b"Welcome v1",
    }
    assert versions == {
        "_kontaxa_app_welcome-message": "2",
        "db-password": "1",
        "by-arn": "2",
        "v1": "1",
        "stable": "1",
    }


def test_ssm_json_parameter_is_split_with_jmes_path(store: Any) -> None:
    store.put_parameter("/kontaxa/app/feature-flags", '{"flags": {"dark_mode": "on"}}')
    objects = """
- objectName: /kontaxa/app/feature-flags
  objectType: ssmparameter
  objectAlias: flags
  jmesPath: [{path: flags.dark_mode, objectAlias: dark-mode}]
"""
    files, versions = fetch_files(objects, region=REGION, endpoint_url=store.url)

    assert by_path(files)["dark-mode"] == (b"on", 0o644)
    assert versions == {"flags": "1", "dark-mode": "1"}


def test_file_modes_default_from_the_mount_then_object_then_entry(
    store: Any, contract_secrets: dict[str, dict[str, str]]
) -> None:
    objects = """
- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: token}
- objectName: kontaxa/api-keys
  objectType: secretsmanager
  objectAlias: keys
  filePermission: "0600"
  jmesPath:
    - {path: primary, objectAlias: primary, filePermission: "0640"}
    - {path: secondary, objectAlias: secondary}
"""
    files, _ = fetch_files(objects, region=REGION, endpoint_url=store.url, default_mode=0o444)

    modes = {file.path: file.mode for file in files}
    assert modes == {"token": 0o444, "keys": 0o600, "primary": 0o640, "secondary": 0o600}


def test_region_parameter_selects_the_region(store: Any) -> None:
    store.create_secret("kontaxa/regional", "in-eu", region="eu-west-1")
    objects = "- {objectName: kontaxa/regional, objectType: secretsmanager, objectAlias: r}"

    files, _ = fetch_files_for_parameters(
        {"objects": objects, "region": "eu-west-1"}, default_region=REGION, endpoint_url=store.url
    )

    assert by_path(files) == {"r": (b"in-eu", 0o644)}
    with pytest.raises(ObjectNotFoundError, match="region us-east-1"):
        fetch_files_for_parameters(
            {"objects": objects}, default_region=REGION, endpoint_url=store.url
        )


def test_endpoint_comes_from_aws_endpoint_url_when_not_given(
    store: Any, contract_secrets: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", store.url)

    files, _ = fetch_files(
        "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: t}",
        region=REGION,
    )

    assert by_path(files) == {"t": (b"token-0123456789abcdef", 0o644)}


def test_rotation_returns_new_content_and_versions(
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    main_api_objects: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, first = fetch_files(main_api_objects, region=REGION, endpoint_url=store.url)
    rotated = store.rotate_secret(
        "kontaxa/api-keys", '{"primary": "rotated-1", "secondary": "rotated-2"}'
    )

    with caplog.at_level(logging.INFO, logger="secrets_provider"):
        files, second = fetch_files(main_api_objects, first, region=REGION, endpoint_url=store.url)

    assert by_path(files)["api-key-primary"] == (b"rotated-1", 0o644)
    assert by_path(files)["api-key-secondary"] == (b"rotated-2", 0o644)
    assert second == {
        **first,
        "api-keys": rotated,
        "api-key-primary": rotated,
        "api-key-secondary": rotated,
    }
    assert rotated != first["api-keys"]
    assert "object api-key-primary rotated from version" in caplog.text
    assert "service-token rotated" not in caplog.text


def test_mount_directory_writes_what_the_services_read(
    store: Any, contract_secrets: dict[str, dict[str, str]], main_api_objects: str, tmp_path: Path
) -> None:
    from kontaxa_common.logs import Redactor
    from kontaxa_common.secrets import SecretFiles

    directory = tmp_path / "main-api"
    versions = mount_directory(
        directory, {"objects": main_api_objects}, default_region=REGION, endpoint_url=store.url
    )
    reader = SecretFiles(directory, reload_seconds=0, redactor=Redactor())

    assert reader.get("service-token") == "token-0123456789abcdef"
    assert sorted(reader.with_prefix("api-key-")) == ["primary-key-1111", "secondary-key-2222"]
    assert set(versions) == {"service-token", "api-keys", "api-key-primary", "api-key-secondary"}


# Each failure a mount can meet, with the error it raises and a part of its message.
FAILURES: list[tuple[str, str, type[MountError], str]] = [
    (
        "missing secret",
        "- {objectName: kontaxa/missing, objectType: secretsmanager, objectAlias: m}",
        ObjectNotFoundError,
        "secret 'kontaxa/missing' not found",
    ),
    (
        "missing parameter",
        "- {objectName: /kontaxa/app/missing, objectType: ssmparameter, objectAlias: m}",
        ObjectNotFoundError,
        "SSM parameter '/kontaxa/app/missing' not found",
    ),
    (
        "missing secret version",
        "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: t,"
        " objectVersion: 00000000-0000-0000-0000-000000000000}",
        ObjectNotFoundError,
        "version '00000000-0000-0000-0000-000000000000'",
    ),
    (
        "one good object, then a missing one",
        "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: new}\n"
        "- {objectName: kontaxa/missing, objectType: secretsmanager, objectAlias: m}",
        ObjectNotFoundError,
        "kontaxa/missing",
    ),
    (
        "jmesPath that does not parse",
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
        " jmesPath: [{path: 'primary[', objectAlias: p}]}",
        ObjectContentError,
        "JMES path 'primary['",
    ),
    (
        "jmesPath to a missing key",
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
        " jmesPath: [{path: tertiary, objectAlias: t}]}",
        ObjectContentError,
        "JMES path 'tertiary' for objectAlias 't' does not point to a value",
    ),
    (
        "jmesPath to a non-string",
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
        " jmesPath: [{path: '[primary, secondary]', objectAlias: both}]}",
        ObjectContentError,
        "only a string can be mounted",
    ),
    (
        # jmespath's own message quotes the value: "invalid type for value: primary-key-1111".
        "jmesPath function given the wrong type",
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
        " jmesPath: [{path: 'abs(primary)', objectAlias: p}]}",
        ObjectContentError,
        "abs() takes number, not the string it was given",
    ),
    (
        # Python's own TypeError, which jmespath lets through (it names only the types).
        "jmesPath comparing a string with a number",
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: k,"
        " jmesPath: [{path: 'primary > `1`', objectAlias: p}]}",
        ObjectContentError,
        "compares or orders values of different types",
    ),
    (
        "jmesPath on a value that is not JSON",
        "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: t,"
        " jmesPath: [{path: primary, objectAlias: p}]}",
        ObjectContentError,
        "is not valid JSON",
    ),
    (
        "duplicate alias",
        "- {objectName: kontaxa/service-token, objectType: secretsmanager, objectAlias: same}\n"
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: same}",
        ObjectSpecError,
        "found duplicate object alias same",
    ),
    (
        # Translated to ".._service-token", which the driver's writer refuses too.
        "alias the driver cannot write",
        "- {objectName: kontaxa/service-token, objectType: secretsmanager,"
        " objectAlias: ../service-token}",
        WriteError,
        "must not start with '..'",
    ),
]


@pytest.mark.parametrize(
    ("objects", "error", "message"),
    [failure[1:] for failure in FAILURES],
    ids=[failure[0] for failure in FAILURES],
)
def test_failed_mount_raises_a_clear_error_and_writes_nothing(
    store: Any,
    contract_secrets: dict[str, dict[str, str]],
    contract_values: dict[str, str],
    main_api_objects: str,
    tmp_path: Path,
    snapshot_of: Any,
    objects: str,
    error: type[MountError],
    message: str,
) -> None:
    directory = tmp_path / "secrets"
    mount_directory(
        directory, {"objects": main_api_objects}, default_region=REGION, endpoint_url=store.url
    )
    before = snapshot_of(directory)
    assert "service-token" in before

    with pytest.raises(error) as raised:
        mount_directory(
            directory, {"objects": objects}, default_region=REGION, endpoint_url=store.url
        )

    assert message in str(raised.value)
    # No secret value, whole or a field of it, in the error or what it was raised from.
    api_keys = json.loads(contract_values["api-keys"])
    for value in [*contract_values.values(), *api_keys.values()]:
        assert value not in str(raised.value)
        assert value not in repr(raised.value.__cause__)
        assert raised.value.__suppress_context__ or value not in repr(raised.value.__context__)
    assert snapshot_of(directory) == before


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        # Python's json took NaN (and floor() of it raised ValueError, a gRPC UNKNOWN);
        # Go's encoding/json, which the AWS provider reads the secret with, refuses both.
        ('{"a": NaN, "pw": "hunter2-value"}', "floor(a)", "is not valid JSON"),
        ('{"a": -Infinity, "pw": "hunter2-value"}', "a", "is not valid JSON"),
        # Infinite in Python; out of a float64's range for Go, and refused.
        ('{"a": 1e999, "pw": "hunter2-value"}', "a", "is not valid JSON"),
        # A RecursionError escaped the library.
        ("[" * 30_000 + "]" * 30_000, "a", "nested too deeply"),
    ],
    ids=["nan", "infinity", "out-of-range", "deep"],
)
def test_json_that_go_refuses_is_a_content_error(
    store: Any, value: str, path: str, message: str
) -> None:
    store.create_secret("odd", value)
    objects = (
        "- {objectName: odd, objectType: secretsmanager, objectAlias: o,"
        f" jmesPath: [{{path: '{path}', objectAlias: p}}]}}"
    )

    with pytest.raises(ObjectContentError, match=message) as raised:
        fetch_files(objects, region=REGION, endpoint_url=store.url)

    assert "hunter2" not in str(raised.value)
    assert raised.value.__suppress_context__
    assert raised.value.__cause__ is None


def test_failed_first_mount_creates_nothing(store: Any, tmp_path: Path) -> None:
    directory = tmp_path / "secrets"

    with pytest.raises(ObjectNotFoundError):
        mount_directory(
            directory,
            {"objects": "- {objectName: nope, objectType: secretsmanager}"},
            default_region=REGION,
            endpoint_url=store.url,
        )

    assert not directory.exists()


def test_unreachable_store_is_a_store_error(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # a loopback port nobody listens on

    with pytest.raises(StoreError, match=r"is the emulator running at http://127\.0\.0\.1"):
        fetch_files(
            "- {objectName: x, objectType: secretsmanager}", region=REGION, endpoint_url=closed
        )


def test_parameters_without_objects_are_refused() -> None:
    with pytest.raises(ObjectSpecError, match="no 'objects'"):
        fetch_files_for_parameters({"region": REGION}, default_region=REGION)


def test_a_repeated_file_name_holds_the_later_entry_as_with_the_aws_provider(
    store: Any, contract_secrets: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """Upstream accepts it and the driver's WritePayloads (a map by path) keeps the later file."""
    objects = (
        "- {objectName: kontaxa/service-token, objectType: secretsmanager}\n"
        "- {objectName: kontaxa/api-keys, objectType: secretsmanager,"
        " objectAlias: kontaxa_service-token}\n"
    )

    files, versions = fetch_files(objects, region=REGION, endpoint_url=store.url)

    assert [file.path for file in files] == ["kontaxa_service-token"]
    assert files[0].contents.startswith(b'{"primary"')
    assert versions == {"kontaxa_service-token": contract_secrets["kontaxa/api-keys"]["version"]}
    mount_directory(
        tmp_path / "m", {"objects": objects}, default_region=REGION, endpoint_url=store.url
    )
    assert (tmp_path / "m" / "kontaxa_service-token").read_bytes().startswith(b'{"primary"')
