"""The AWS provider's descriptor tests, case by case, against `parse_objects`.

Ported from aws/secrets-store-csi-driver-provider-aws at tag
secrets-store-csi-driver-provider-aws-2.1.1 (the chart the eks overlay pins),
file `provider/secret_descriptor_test.go`. Each case id is the upstream test
function's name; the objects, pathTranslation and regions are upstream's
(`singleRegion` is us-west-2; failover cases pass two regions). Messages are
matched on upstream's wording, which ours keeps (with the object named first).

Not ported: TestGetSecretTypeSM/SSM, TestEnumStrings, TestSetDefaultFilePermission
and TestGetFilePermission test Go accessors (their effect, the type and the
default mode, is asserted through the parsed objects and the mount tests);
TestGetPath's mount-point join is the driver's job here (the provider returns
paths relative to the mount).
"""

import re

import pytest

from secrets_provider import ObjectSpecError, ObjectType, parse_objects

SINGLE_REGION = ["us-west-2"]
TWO_REGIONS = ["us-west-1", "us-west-2"]
SM_ARN_W2 = "arn:aws:secretsmanager:us-west-2:123456789012:secret"
SM_ARN_W1 = "arn:aws:secretsmanager:us-west-1:123456789012:secret"


def parse(objects: str, translation: str = "", regions: list[str] = SINGLE_REGION) -> list[str]:
    parsed = parse_objects(
        objects,
        region=regions[0],
        path_translation=translation,
        failover_region=regions[1] if len(regions) > 1 else "",
    )
    return [obj.file_name for obj in parsed]


# (upstream test, objects, pathTranslation, regions, expected error regex)
REFUSED = [
    (
        "TestNoNamePresent",
        "- {objectType: secretsmanager}",
        "",
        SINGLE_REGION,
        "Object name must be specified",
    ),
    (
        "TestNoTypePresent",
        "- objectName: 'arn::'",
        "",
        SINGLE_REGION,
        "Invalid ARN format in object name: arn::",
    ),
    (
        "TestUnknownService",
        "- objectName: arn:aws:sts:us-west-2:123456789012:parameter/feaw",
        "",
        SINGLE_REGION,
        "Invalid service in ARN: sts",
    ),
    (
        "TestNoObjectTypeWoArn",
        "- objectName: SomeSecret",
        "",
        SINGLE_REGION,
        "Must use objectType .*when a full ARN is not specified: SomeSecret",
    ),
    (
        "TestInvalidObjectType",
        "- {objectName: SomeName, objectType: sts}",
        "",
        SINGLE_REGION,
        "Invalid objectType: sts",
    ),
    (
        "TestSSMObjectType",
        "- {objectName: SomeName, objectType: ssm}",
        "",
        SINGLE_REGION,
        "Invalid objectType: ssm",
    ),
    (
        "TestObjectTypeMisMatchArn",
        f"- {{objectName: '{SM_ARN_W2}:/feaw', objectType: ssmparameter}}",
        "",
        SINGLE_REGION,
        "objectType does not match ARN",
    ),
    (
        "TestSSMBothVersionandLabel",
        "- {objectName: SomeParameter, objectType: ssmparameter, objectVersionLabel: SomeLabel,"
        " objectVersion: VersionId}",
        "",
        SINGLE_REGION,
        "ssm parameters can not specify both objectVersion and objectVersionLabel",
    ),
    (
        "TestConflictingNameWoAliasAndVersionLabel",
        "- {objectName: secret1, objectType: ssmparameter}\n"
        "- {objectName: secret1, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        "found descriptor with duplicate object name secret1, no object alias, "
        "and no version label",
    ),
    (
        "TestConflictingNameAndAliasWoVersionLabel",
        "- {objectName: secret1, objectAlias: aliasOne, objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasOne, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        "duplicate object name secret1, duplicate object alias aliasOne, and no version label",
    ),
    (
        "TestConflictingNameAndAliasWithVersionLabel",
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSCURRENT,"
        " objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSPREVIOUS,"
        " objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        "^found duplicate object alias aliasOne$",
    ),
    (
        "TestConflictingNameAndVersionLabelWoAlias",
        "- {objectName: secret1, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}\n"
        "- {objectName: secret1, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        "no object alias, and duplicate version label AWSCURRENT",
    ),
    (
        "TestConflictingNameAndVersionLabelAndAlias",
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSCURRENT,"
        " objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSCURRENT,"
        " objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        "duplicate object alias aliasOne, and duplicate version label AWSCURRENT",
    ),
    (
        "TestConflictingAlias",
        "- {objectName: secret1, objectType: ssmparameter, objectAlias: aliasOne}\n"
        "- {objectName: secret2, objectType: ssmparameter, objectAlias: aliasOne}",
        "",
        SINGLE_REGION,
        "found duplicate object alias aliasOne",
    ),
    (
        "TestConflictingAliasJMES",
        "- {objectName: secret1, objectType: ssmparameter, objectAlias: aliasOne}\n"
        "- {objectName: secret2, objectType: ssmparameter,"
        " jmesPath: [{path: .username, objectAlias: aliasOne}]}",
        "",
        SINGLE_REGION,
        "Name already in use for objectAlias: found duplicate object alias aliasOne in JMES path "
        "entry .username",
    ),
    (
        "TestMissingAliasJMES",
        "- {objectName: secret2, objectType: ssmparameter, jmesPath: [{path: .username}]}",
        "",
        SINGLE_REGION,
        "Object alias must be specified for JMES object",
    ),
    (
        "TestMissingPathJMES",
        "- {objectName: secret2, objectType: ssmparameter, jmesPath: [{objectAlias: aliasOne}]}",
        "",
        SINGLE_REGION,
        "Path must be specified for JMES object",
    ),
    (
        "TestBadYaml",
        "- objectName: secret1\n  objectType: secretsmanager\n- {",
        "",
        SINGLE_REGION,
        "Failed to load SecretProviderClass",
    ),
    ("TestErrorYaml", "- objectName: secret1", "", SINGLE_REGION, "Must use objectType"),
    (
        "TestBadTrans",
        "- {objectName: secret1, objectType: secretsmanager}",
        "--",
        SINGLE_REGION,
        "pathTranslation must be either 'False' or a single character string",
    ),
    (
        "TestFallbackObjectRequiresAlias",
        f"- objectName: {SM_ARN_W1}:secret1\n"
        f"  failoverObject: {{objectName: '{SM_ARN_W2}:secret1'}}",
        "",
        TWO_REGIONS,
        "object alias must be specified for objects with failover entries",
    ),
    (
        "TestFallbackNonARNStillNeedsObjectType",
        f"- {{objectName: '{SM_ARN_W1}:secret1', failoverObject: {{objectName: MySecret}},"
        " objectAlias: test}",
        "",
        TWO_REGIONS,
        "Must use objectType",
    ),
    (
        "TestBackupArnMustBePairedWithObjectType",
        f"- {{objectName: MySecret, objectAlias: test, failoverObject: {{objectName: '{SM_ARN_W1}"
        ":secret1'}}",
        "",
        ["us-west-2", "us-west-1"],
        "Must use objectType",
    ),
    (
        "TestBackupArnDoesNotMatchType",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectType: secretsmanager, objectAlias: test,"
        " failoverObject: {objectName: 'arn:aws:bad:us-west-2:123456789012:secret:secret1'}}",
        "",
        TWO_REGIONS,
        "objectType does not match ARN",
    ),
    (
        "TestBackupArnInvalidType",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectAlias: test,"
        " failoverObject: {objectName: 'arn:aws:bad:us-west-2:123456789012:secret:secret1'}}",
        "",
        TWO_REGIONS,
        "Invalid service in ARN: bad",
    ),
    (
        "TestPrimaryArnRequiresRegionMatch",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectAlias: test}}",
        "",
        SINGLE_REGION,
        "ARN region must match region us-west-2",
    ),
    (
        "TestBackupArnRequiresRegionMatch",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectAlias: test,"
        f" failoverObject: {{objectName: '{SM_ARN_W2}:secret1'}}}}",
        "",
        ["us-west-1", "us-east-2"],
        "ARN region must match region us-east-2",
    ),
    (
        "TestFallbackDataRequiresMultipleRegions",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectAlias: test,"
        f" failoverObject: {{objectName: '{SM_ARN_W2}:secret1'}}}}",
        "",
        ["us-west-1"],
        "failover object allowed only when failover region is defined",
    ),
    (
        "TestObjectVersionAndLabelAreIncompatible",
        "- {objectName: MySecret1, objectType: ssmparameter, objectAlias: test, failoverObject:"
        " {objectName: MySecretInAnotherRegion, objectVersion: VersionId,"
        " objectVersionLabel: MyLabel}}",
        "",
        TWO_REGIONS,
        "can not specify both",
    ),
    (
        "TestVersionIdsMustMatch",
        "- {objectName: MySecret1, objectType: ssmparameter, objectVersion: OldVersionId,"
        " objectAlias: test, failoverObject: {objectName: MySecretInAnotherRegion,"
        " objectVersion: ADifferentVersionId}}",
        "",
        TWO_REGIONS,
        "object versions must match between primary and failover regions",
    ),
    (
        "TestValidateFilePermission/InvalidFilePermission",
        "- {objectName: x, objectType: secretsmanager, filePermission: '0999'}",
        "",
        SINGLE_REGION,
        "Invalid File Permission: 0999",
    ),
    (
        "TestValidateFilePermission/ShortFilePermission",
        "- {objectName: x, objectType: secretsmanager, filePermission: '644'}",
        "",
        SINGLE_REGION,
        "Invalid File Permission: 644",
    ),
    (
        "TestValidateFilePermission/LongFilePermission",
        "- {objectName: x, objectType: secretsmanager, filePermission: '06444'}",
        "",
        SINGLE_REGION,
        "Invalid File Permission: 06444",
    ),
    (
        "TestValidateDescriptorFilePermission/DescriptorInvalidPermission",
        "- {objectName: x, objectType: secretsmanager, filePermission: '9999'}",
        "",
        SINGLE_REGION,
        "Invalid File Permission: 9999",
    ),
    (
        "TestValidateDescriptorFilePermission/DescriptorInvalidjmesPermission",
        "- {objectName: x, objectType: secretsmanager, filePermission: '0600',"
        " jmesPath: [{path: a, objectAlias: a, filePermission: '9999'}]}",
        "",
        SINGLE_REGION,
        "Invalid File Permission: 9999",
    ),
]


@pytest.mark.parametrize(
    ("objects", "translation", "regions", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_secret_descriptor_test_go_refused(
    objects: str, translation: str, regions: list[str], message: str
) -> None:
    with pytest.raises(ObjectSpecError) as raised:
        parse(objects, translation, regions)

    message_without_where = re.sub(
        r"^objects\[\d+\] \([^)]*\)(\.jmesPath\[\d+\])?: ", "", str(raised.value)
    )
    assert re.search(message, message_without_where), str(raised.value)


# (upstream test, objects, pathTranslation, regions, the file names)
ACCEPTED = [
    (
        "TestSSMWithArn",
        "- objectName: arn:aws:ssm:us-west-2:123456789012:parameter/feaw",
        "",
        SINGLE_REGION,
        ["arn:aws:ssm:us-west-2:123456789012:parameter_feaw"],
    ),
    (
        "TestConflictingNameAndNotAliasWoVersionLabel",
        "- {objectName: secret1, objectAlias: aliasOne, objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasTwo, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        ["aliasOne", "aliasTwo"],
    ),
    (
        "TestConflictingNameAndNotAliasWithVersionLabel",
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSCURRENT,"
        " objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasTwo, objectVersionLabel: AWSPREVIOUS,"
        " objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        ["aliasOne", "aliasTwo"],
    ),
    # Upstream accepts this; both entries have the file name secret1 (the later wins).
    (
        "TestConflictingNameAndNotVersionLabelWoAlias",
        "- {objectName: secret1, objectVersionLabel: AWSCURRENT, objectType: ssmparameter}\n"
        "- {objectName: secret1, objectVersionLabel: AWSPREVIOUS, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        ["secret1", "secret1"],
    ),
    (
        "TestConflictingNameWithAliasAndVersionLabel",
        "- {objectName: secret1, objectAlias: aliasOne, objectVersionLabel: AWSCURRENT,"
        " objectType: ssmparameter}\n"
        "- {objectName: secret1, objectAlias: aliasTwo, objectVersionLabel: AWSPREVIOUS,"
        " objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        ["aliasOne", "aliasTwo"],
    ),
    (
        "TestNewDescriptorList",
        "- {objectName: secret1, objectType: secretsmanager}\n"
        "- {objectName: secret2, objectType: ssmparameter}\n"
        "- {objectName: secret3, objectType: ssmparameter, objectAlias: myParm}",
        "_",
        SINGLE_REGION,
        ["secret1", "secret2", "myParm"],
    ),
    (
        "TestGetPath",
        f"- {{objectName: '{SM_ARN_W2}:secret1', objectAlias: secret1}}\n"
        "- {objectName: parm1, objectType: ssmparameter}",
        "",
        SINGLE_REGION,
        ["secret1", "parm1"],
    ),
    (
        "TestBackupArnSuccess",
        f"- {{objectName: '{SM_ARN_W1}:secret1', objectAlias: test,"
        f" failoverObject: {{objectName: '{SM_ARN_W2}:secret1'}}}}",
        "",
        TWO_REGIONS,
        ["test"],
    ),
    (
        "TestGetPathForMultiregion",
        "- {objectName: MySecret1, objectType: ssmparameter, objectAlias: test,"
        " failoverObject: {objectName: MySecretInAnotherRegion}}",
        "",
        TWO_REGIONS,
        ["test"],
    ),
    (
        "TestVersionidsMatch",
        "- {objectName: MySecret1, objectType: ssmparameter, objectVersion: VersionId,"
        " objectAlias: test, failoverObject: {objectName: MySecretInAnotherRegion,"
        " objectVersion: VersionId}}",
        "",
        TWO_REGIONS,
        ["test"],
    ),
]


@pytest.mark.parametrize(
    ("objects", "translation", "regions", "file_names"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_secret_descriptor_test_go_accepted(
    objects: str, translation: str, regions: list[str], file_names: list[str]
) -> None:
    assert parse(objects, translation, regions) == file_names


def test_secret_descriptor_test_go_new_descriptor_list_types() -> None:
    """TestNewDescriptorList's grouping: one Secrets Manager object, two SSM parameters."""
    parsed = parse_objects(
        "- {objectName: secret1, objectType: secretsmanager}\n"
        "- {objectName: secret2, objectType: ssmparameter}\n"
        "- {objectName: secret3, objectType: ssmparameter, objectAlias: myParm}",
        region="us-west-2",
    )
    assert [obj.object_type for obj in parsed] == [
        ObjectType.SECRETS_MANAGER,
        ObjectType.SSM_PARAMETER,
        ObjectType.SSM_PARAMETER,
    ]


TRAVERSAL = [
    f"- objectName: '{SM_ARN_W2}:/../pathTest-abc123'",
    f"- objectName: '{SM_ARN_W2}:mypath/../../pathTest-abc123'",
    f"- objectName: '{SM_ARN_W2}:mypath/..'",
    "- {objectName: ../mypath, objectType: secretsmanager}",
    "- {objectName: mypath/../../param, objectType: secretsmanager}",
    "- {objectName: mypath/.., objectType: secretsmanager}",
    "- {objectName: ../mypath, objectType: ssmparameter}",
    "- {objectName: mypath/../../param, objectType: ssmparameter}",
    "- {objectName: mypath/.., objectType: ssmparameter}",
]


@pytest.mark.parametrize("objects", TRAVERSAL)
def test_secret_descriptor_test_go_traversal(objects: str) -> None:
    """TestTraversal: with pathTranslation False, a "../" in the file name is refused."""
    with pytest.raises(ObjectSpecError, match=re.escape("path can not contain ../")):
        parse(objects, "False")


NOT_TRAVERSAL = [
    f"- objectName: '{SM_ARN_W2}:/..pathTest-abc123'",
    f"- objectName: '{SM_ARN_W2}:..pathTest-abc123'",
    f"- objectName: '{SM_ARN_W2}:mypath../pathTest-abc123'",
    f"- objectName: '{SM_ARN_W2}:mypath..'",
    "- {objectName: /..mypath, objectType: ssmparameter}",
    "- {objectName: ..mypath, objectType: ssmparameter}",
    "- {objectName: mypath../param, objectType: ssmparameter}",
    "- {objectName: mypath.., objectType: ssmparameter}",
]


@pytest.mark.parametrize("objects", NOT_TRAVERSAL)
def test_secret_descriptor_test_go_not_traversal(objects: str) -> None:
    """TestNotTraversal: names that only look like "..", accepted with pathTranslation False."""
    assert len(parse(objects, "False")) == 1


@pytest.mark.parametrize(
    ("jmes_permission", "expected"),
    [("", 0o600), ("0700", 0o700)],
    ids=["InheritFromParent", "OverrideParent"],
)
def test_secret_descriptor_test_go_get_jmes_entry_secret_descriptor(
    jmes_permission: str, expected: int
) -> None:
    """TestGetJmesEntrySecretDescriptor: a jmesPath file inherits or overrides the permission."""
    entry = f", filePermission: '{jmes_permission}'" if jmes_permission else ""
    (parsed,) = parse_objects(
        "- {objectName: x, objectType: secretsmanager, filePermission: '0600',"
        f" jmesPath: [{{path: a, objectAlias: a{entry}}}]}}",
        region="us-west-2",
    )
    (jmes,) = parsed.jmes_path
    effective = parsed.file_permission if jmes.file_permission is None else jmes.file_permission
    assert effective == expected
