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
        ("- ", "objects[0] is empty"),
        ("- objectType: secretsmanager", "objectName must be specified"),
        ("- objectName: x", "objectType must be set"),
        ("- {objectName: x, objectType: ssm}", "invalid objectType 'ssm'"),
        ("- {objectName: x, objectType: vault}", "invalid objectType 'vault'"),
        (f"- {{objectName: '{SSM_ARN}', objectType: secretsmanager}}", "does not match the ARN"),
        (f"- objectName: {SM_ARN.replace('us-east-1', 'eu-west-1')}", "must match the mount's"),
        ("- objectName: 'arn:aws:s3:us-east-1:1:bucket'", "invalid service 's3'"),
        ("- objectName: 'arn:aws'", "invalid ARN format"),
        (
            "- {objectName: p, objectType: ssmparameter, objectVersion: '1', "
            "objectVersionLabel: l}",
            "not both",
        ),
        ("- {objectName: x, objectType: secretsmanager, filePermission: '644'}", "four octal"),
        ("- {objectName: x, objectType: secretsmanager, filePermission: '0999'}", "four octal"),
        ("- {objectName: x, objectType: secretsmanager, objectAliass: y}", "unknown key"),
        ("- {objectName: p, objectType: ssmparameter, objectVersion: 3}", "must be a string"),
        ("- {objectName: x, objectType: secretsmanager, jmesPath: primary}", "must be a list"),
        (
            "- {objectName: x, objectType: secretsmanager, jmesPath: [{objectAlias: a}]}",
            "path must be specified",
        ),
        (
            "- {objectName: x, objectType: secretsmanager, jmesPath: [{path: a}]}",
            "objectAlias must be specified",
        ),
        (
            "- {objectName: x, objectType: secretsmanager,"
            " jmesPath: [{path: 'a[', objectAlias: a}]}",
            "invalid JMES path 'a['",
        ),
        ("- {objectName: x, objectType: secretsmanager, objectAlias: a/b}", "path separator"),
        (
            "- {objectName: x, objectType: secretsmanager,"
            " jmesPath: [{path: a, objectAlias: a/b}]}",
            "path separator",
        ),
        ("- {objectName: x, objectType: secretsmanager, objectAlias: '..'}", "cannot be used"),
        ("- {objectName: '..', objectType: secretsmanager}", "cannot be used"),
    ],
)
def test_invalid_objects_are_refused_with_a_clear_message(objects: str, message: str) -> None:
    with pytest.raises(ObjectSpecError, match=re.escape(message)):
        parse_objects(objects, region=REGION)


@pytest.mark.parametrize(
    "objects",
    [
        # Two objects, one alias.
        "- {objectName: a, objectType: secretsmanager, objectAlias: same}\n"
        "- {objectName: b, objectType: secretsmanager, objectAlias: same}\n",
        # An object's alias reused by a jmesPath entry.
        "- {objectName: a, objectType: secretsmanager, objectAlias: same}\n"
        "- {objectName: b, objectType: secretsmanager, jmesPath: [{path: k, objectAlias: same}]}\n",
        # Two jmesPath entries of one object.
        "- {objectName: a, objectType: secretsmanager,"
        " jmesPath: [{path: k, objectAlias: same}, {path: l, objectAlias: same}]}\n",
        # The same name twice with neither alias nor label (the AWS provider's case 4).
        "- {objectName: a, objectType: secretsmanager}\n"
        "- {objectName: a, objectType: secretsmanager}\n",
        # A translated name equal to another's alias.
        "- {objectName: a/b, objectType: secretsmanager}\n"
        "- {objectName: c, objectType: secretsmanager, objectAlias: a_b}\n",
    ],
)
def test_duplicate_aliases_are_refused(objects: str) -> None:
    with pytest.raises(
        ObjectSpecError, match=r"duplicate object alias or file name '(same|a|a_b)'"
    ):
        parse_objects(objects, region=REGION)


def test_a_file_cannot_be_the_directory_of_another_without_translation() -> None:
    objects = (
        "- {objectName: a, objectType: secretsmanager}\n"
        "- {objectName: a/b, objectType: secretsmanager}\n"
    )

    with pytest.raises(ObjectSpecError, match="one would be a directory of the other"):
        parse_objects(objects, region=REGION, path_translation="False")


@pytest.mark.parametrize("translation", ["ab", "/"])
def test_path_translation_must_be_false_or_one_character(translation: str) -> None:
    with pytest.raises(ObjectSpecError, match="pathTranslation"):
        parse_objects(
            "- {objectName: a, objectType: secretsmanager}",
            region=REGION,
            path_translation=translation,
        )
