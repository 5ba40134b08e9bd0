"""Parsing of the AWS provider's `objects` syntax: file names, types, alias rules, errors."""

import re

import pytest

from secrets_provider import ObjectSpecError, ObjectType, parse_objects

REGION = "us-east-1"
SM_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kontaxa/api-keys-AbCdEf"
SSM_ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/kontaxa/app/welcome-message"


def test_main_api_objects_parse_to_the_contract_file_names(main_api_objects: str) -> None:
    parsed = parse_objects(main_api_objects, region=REGION)

    assert [obj.file_name for obj in parsed] == ["service-token", "api-keys"]
    assert [obj.object_type for obj in parsed] == [ObjectType.SECRETS_MANAGER] * 2
    assert [(e.path, e.object_alias) for e in parsed[1].jmes_path] == [
        ("primary", "api-key-primary"),
        ("secondary", "api-key-secondary"),
    ]


@pytest.mark.parametrize(
    ("translation", "file_name"),
    [
        ("", "kontaxa_service-token"),
        ("-", "kontaxa-service-token"),
        ("False", "kontaxa/service-token"),
        ("false", "kontaxa/service-token"),
    ],
)
def test_object_name_becomes_the_file_name_with_slashes_translated(
    translation: str, file_name: str
) -> None:
    objects = "- objectName: kontaxa/service-token\n  objectType: secretsmanager\n"

    (parsed,) = parse_objects(objects, region=REGION, path_translation=translation)

    assert parsed.file_name == file_name


def test_leading_slash_is_dropped_when_translation_is_off() -> None:
    objects = "- objectName: /kontaxa/app/welcome-message\n  objectType: ssmparameter\n"

    (parsed,) = parse_objects(objects, region=REGION, path_translation="False")

    assert parsed.file_name == "kontaxa/app/welcome-message"


@pytest.mark.parametrize(
    ("arn", "object_type", "file_name"),
    [
        (SM_ARN, ObjectType.SECRETS_MANAGER, SM_ARN.replace("/", "_")),
        (SSM_ARN, ObjectType.SSM_PARAMETER, SSM_ARN.replace("/", "_")),
    ],
)
def test_an_arn_needs_no_object_type(arn: str, object_type: ObjectType, file_name: str) -> None:
    (parsed,) = parse_objects(f"- objectName: {arn}\n", region=REGION)

    assert parsed.object_type is object_type
    assert parsed.file_name == file_name


def test_keys_match_case_insensitively_like_the_aws_provider() -> None:
    objects = (
        "- objectname: kontaxa/service-token\n  OBJECTTYPE: secretsmanager\n  objectalias: t\n"
    )

    (parsed,) = parse_objects(objects, region=REGION)

    assert (parsed.object_name, parsed.file_name) == ("kontaxa/service-token", "t")


def test_file_permissions_are_octal_and_jmes_entries_keep_their_own() -> None:
    objects = """
- objectName: kontaxa/api-keys
  objectType: secretsmanager
  filePermission: "0600"
  jmesPath:
    - path: primary
      objectAlias: p
      filePermission: "0640"
    - path: secondary
      objectAlias: s
"""
    (parsed,) = parse_objects(objects, region=REGION)

    assert parsed.file_permission == 0o600
    assert [e.file_permission for e in parsed.jmes_path] == [0o640, None]


def test_versions_and_labels_are_kept() -> None:
    objects = """
- objectName: kontaxa/api-keys
  objectType: secretsmanager
  objectVersion: 11111111-2222-3333-4444-555555555555
  objectVersionLabel: AWSCURRENT
- objectName: /kontaxa/app/welcome-message
  objectType: ssmparameter
  objectVersionLabel: stable
"""
    secret, parameter = parse_objects(objects, region=REGION)

    assert secret.object_version == "11111111-2222-3333-4444-555555555555"
    assert secret.object_version_label == "AWSCURRENT"
    assert (parameter.object_version, parameter.object_version_label) == ("", "stable")


def test_one_name_can_be_mounted_twice_under_different_aliases() -> None:
    objects = """
- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: current}
- {objectName: kontaxa/api-keys, objectType: secretsmanager, objectAlias: previous,
   objectVersionLabel: AWSPREVIOUS}
"""
    assert [o.file_name for o in parse_objects(objects, region=REGION)] == ["current", "previous"]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ("", "lists no object"),
        ("objectName: x", "must be a YAML list"),
        ("- objectName: [unclosed", "not valid YAML"),
        ("[" * 5000, "nested too deeply"),  # a RecursionError escaped, a gRPC UNKNOWN
        ("- ", "objects[0] is empty"),
        ("- objectType: secretsmanager", "Object name must be specified"),
        ("- objectName: x", "Must use objectType"),
        ("- {objectName: x, objectType: ssm}", "Invalid objectType: ssm"),
        ("- {objectName: x, objectType: vault}", "Invalid objectType: vault"),
        (f"- {{objectName: '{SSM_ARN}', objectType: secretsmanager}}", "does not match ARN"),
        (f"- objectName: {SM_ARN.replace('us-east-1', 'eu-west-1')}", "ARN region must match"),
        ("- objectName: 'arn:aws:s3:us-east-1:1:bucket'", "Invalid service in ARN: s3"),
        ("- objectName: 'arn:aws'", "Invalid ARN format"),
        (
            "- {objectName: p, objectType: ssmparameter, objectVersion: '1', "
            "objectVersionLabel: l}",
            "can not specify both",
        ),
        ("- {objectName: x, objectType: secretsmanager, filePermission: '644'}", "four octal"),
        ("- {objectName: x, objectType: secretsmanager, filePermission: '0999'}", "four octal"),
        # Unquoted, 0640 is YAML 1.1 octal: the string "416", not a permission.
        ("- {objectName: x, objectType: secretsmanager, filePermission: 0640}", "416"),
        ("- {objectName: x, objectType: secretsmanager, jmesPath: primary}", "must be a list"),
        ("- {objectName: [x], objectType: secretsmanager}", "must be a string"),
        (
            "- {objectName: x, objectType: secretsmanager, jmesPath: [{objectAlias: a}]}",
            "Path must be specified",
        ),
        (
            "- {objectName: x, objectType: secretsmanager, jmesPath: [{path: a}]}",
            "Object alias must be specified",
        ),
        (
            "- {objectName: '../x', objectType: secretsmanager}",
            "path can not contain ../",
        ),
    ],
)
def test_invalid_objects_are_refused_with_a_clear_message(objects: str, message: str) -> None:
    with pytest.raises(ObjectSpecError, match=re.escape(message)):
        parse_objects(objects, region=REGION, path_translation="False")


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (
            "- {objectName: a, objectType: secretsmanager, objectAlias: same}\n"
            "- {objectName: b, objectType: secretsmanager, objectAlias: same}\n",
            "found duplicate object alias same",
        ),
        (
            "- {objectName: a, objectType: secretsmanager, objectAlias: same}\n"
            "- {objectName: b, objectType: secretsmanager,"
            " jmesPath: [{path: k, objectAlias: same}]}\n",
            "Name already in use for objectAlias",
        ),
        (
            "- {objectName: a, objectType: secretsmanager,"
            " jmesPath: [{path: k, objectAlias: same}, {path: l, objectAlias: same}]}\n",
            "Name already in use for objectAlias",
        ),
        (
            "- {objectName: a, objectType: secretsmanager}\n"
            "- {objectName: a, objectType: secretsmanager}\n",
            "no object alias, and no version label",
        ),
    ],
)
def test_duplicates_the_aws_provider_refuses_are_refused(objects: str, message: str) -> None:
    """provider/secret_descriptor.go NewSecretDescriptorList (chart 2.1.1): its duplicate rules."""
    with pytest.raises(ObjectSpecError, match=re.escape(message)):
        parse_objects(objects, region=REGION)


@pytest.mark.parametrize(
    ("objects", "file_names"),
    [
        # A translated name equal to another's alias: upstream accepts, the later wins.
        (
            "- {objectName: a/b, objectType: secretsmanager}\n"
            "- {objectName: c, objectType: secretsmanager, objectAlias: a_b}\n",
            ["a_b", "a_b"],
        ),
        # One name twice without alias, with different labels: one file, the later wins.
        (
            "- {objectName: a, objectType: secretsmanager, objectVersionLabel: AWSCURRENT}\n"
            "- {objectName: a, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS}\n",
            ["a", "a"],
        ),
    ],
)
def test_other_repeated_file_names_are_accepted_as_upstream(
    objects: str, file_names: list[str]
) -> None:
    assert [o.file_name for o in parse_objects(objects, region=REGION)] == file_names


@pytest.mark.parametrize(
    ("translation", "alias", "file_name"),
    [
        ("", "a/b", "a_b"),
        ("-", "a/b", "a-b"),
        ("False", "/a/b", "a/b"),
        ("", "a\\b", "a\\b"),  # a backslash is no separator on Linux
        ("/", "/a/b", "/a/b"),  # "/" replaces "/" with itself, no slash is dropped
    ],
)
def test_aliases_are_translated_like_names(translation: str, alias: str, file_name: str) -> None:
    """GetFileName translates the alias too, and jmesPath aliases (getJmesEntrySecretDescriptor)."""
    objects = (
        f"- objectName: x\n  objectType: secretsmanager\n  objectAlias: '{alias}'\n"
        f"  jmesPath: [{{path: k, objectAlias: 'j{alias}'}}]\n"
    )
    (parsed,) = parse_objects(objects, region=REGION, path_translation=translation)

    assert parsed.file_name == file_name
    assert parsed.jmes_path[0].file_name == file_name_for(f"j{alias}", translation)


def file_name_for(name: str, translation: str) -> str:
    if translation.lower() == "false":
        return name.lstrip("/")
    return name.replace("/", translation or "_")


@pytest.mark.parametrize("translation", ["ab", "\u00e9"])
def test_path_translation_must_be_false_or_one_byte(translation: str) -> None:
    """Go's len() counts bytes: "é" (two bytes in UTF-8) is refused upstream."""
    with pytest.raises(ObjectSpecError, match="pathTranslation"):
        parse_objects(
            "- {objectName: a, objectType: secretsmanager}",
            region=REGION,
            path_translation=translation,
        )


@pytest.mark.parametrize(
    ("scalar", "as_string"),
    [
        ("1", "1"),
        ("0640", "416"),
        ("0o17", "15"),
        ("0x1F", "31"),
        ("1_000", "1000"),
        ("1.0", "1"),
        ("1.5", "1.5"),
        ("1e3", "1000"),
        ("1234567.0", "1.234567e+06"),
        ("3.14159265", "3.1415927"),
        ("y", "true"),
        ("Off", "false"),
        ("2024-01-02", "2024-01-02"),
        ("1:20", "1:20"),
        ("~", ""),
        ("'007'", "007"),
    ],
)
def test_scalars_become_strings_as_sigs_k8s_io_yaml_makes_them(scalar: str, as_string: str) -> None:
    """sigs.k8s.io/yaml v1.6.0 yaml.go convertToJSONableObject over go-yaml v2.4.2 resolve.go."""
    objects = f"- {{objectName: x, objectType: secretsmanager, objectVersion: {scalar}}}"

    (parsed,) = parse_objects(objects, region=REGION)

    assert parsed.object_version == as_string


def test_unknown_keys_are_ignored_and_folded_keys_resolve_in_byte_order() -> None:
    """Go's encoding/json ignores unknown fields and visits json.Marshal's sorted keys."""
    objects = (
        "- {objectName: x, objectType: secretsmanager, objectAliass: y,"
        " objectalias: b, objectAlias: a}"
    )

    (parsed,) = parse_objects(objects, region=REGION)

    # "objectAlias" < "objectalias" in byte order: the lower-case key is decoded last.
    assert parsed.file_name == "b"
