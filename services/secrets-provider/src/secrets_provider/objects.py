"""The AWS provider's `objects` syntax: parsing, validation and the file name of each object.

The rules follow the documented behaviour of the AWS provider for the Secrets
Store CSI Driver, so one SecretProviderClass mounts the same files on EKS and
locally. Where this module is stricter (an objectAlias holding a path separator,
two objects mounted under one file name, an unknown key, a non-string value) the
SecretProviderClass would misbehave on EKS too; failing locally catches it early.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jmespath
import jmespath.exceptions
import yaml

from secrets_provider.errors import ObjectSpecError

DEFAULT_PATH_TRANSLATION = "_"

_FILE_PERMISSION = re.compile(r"^[0-7]{4}$")

# Keys of one `objects` entry, by their lower-case form: the AWS provider decodes
# them case-insensitively (Go's encoding/json), so `objectalias` works there too.
_OBJECT_KEYS = {
    key.lower(): key
    for key in (
        "objectName",
        "objectType",
        "objectAlias",
        "objectVersion",
        "objectVersionLabel",
        "filePermission",
        "jmesPath",
        "failoverObject",
    )
}
_JMES_KEYS = {key.lower(): key for key in ("path", "objectAlias", "filePermission")}


class ObjectType(StrEnum):
    """Where an object is stored (the `objectType` values)."""

    SECRETS_MANAGER = "secretsmanager"
    SSM_PARAMETER = "ssmparameter"


# The service part of an ARN, for objects named by ARN without an objectType.
_ARN_SERVICES = {"secretsmanager": ObjectType.SECRETS_MANAGER, "ssm": ObjectType.SSM_PARAMETER}


@dataclass(frozen=True)
class JmesPathEntry:
    """One key of a JSON object value, mounted as its own file."""

    path: str
    object_alias: str
    file_permission: int | None = None


@dataclass(frozen=True)
class SecretObject:
    """One validated entry of `objects`."""

    object_name: str
    object_type: ObjectType
    file_name: str
    object_alias: str = ""
    object_version: str = ""
    object_version_label: str = ""
    file_permission: int | None = None
    jmes_path: tuple[JmesPathEntry, ...] = ()


def parse_objects(objects: str, *, region: str, path_translation: str = "") -> list[SecretObject]:
    """Parse and validate the `objects` YAML of a SecretProviderClass.

    `region` is the region the objects are read from (ARNs must name it);
    `path_translation` is the `pathTranslation` parameter: empty for the default
    "_", "False" to keep slashes (the file then sits in a subdirectory), or one
    character that replaces each "/" of an objectName in its file name.
    """
    translation = _path_translation(path_translation)
    try:
        entries = yaml.safe_load(objects)
    except yaml.YAMLError as error:
        raise ObjectSpecError(f"objects is not valid YAML: {error}") from error
    if entries is None or entries == []:
        raise ObjectSpecError("objects lists no object: name at least one secret or parameter")
    if not isinstance(entries, list):
        raise ObjectSpecError(
            "objects must be a YAML list of entries such as "
            "'- objectName: ...\\n  objectType: secretsmanager'"
        )
    parsed = [
        _parse_entry(entry, index, region, translation) for index, entry in enumerate(entries)
    ]
    _check_unique_file_names(parsed)
    return parsed


def _path_translation(value: str) -> str | None:
    """The character replacing "/" in file names, or None to keep slashes."""
    if value == "":
        return DEFAULT_PATH_TRANSLATION
    if value.lower() == "false":
        return None
    if len(value) != 1 or value == "/":
        raise ObjectSpecError(
            f"pathTranslation must be 'False' or a single character other than '/', not {value!r}"
        )
    return value


def _parse_entry(entry: Any, index: int, region: str, translation: str | None) -> SecretObject:
    if entry is None:
        raise ObjectSpecError(f"objects[{index}] is empty: remove it or give it an objectName")
    fields = _string_fields(entry, _OBJECT_KEYS, f"objects[{index}]")
    name = fields.get("objectName", "")
    where = f"objects[{index}] ({name or 'no objectName'})"
    if not name:
        raise ObjectSpecError(f"{where}: objectName must be specified")
    object_type = _object_type(name, fields.get("objectType", ""), region, where)
    version = fields.get("objectVersion", "")
    label = fields.get("objectVersionLabel", "")
    if object_type is ObjectType.SSM_PARAMETER and version and label:
        raise ObjectSpecError(
            f"{where}: an SSM parameter takes objectVersion or objectVersionLabel, not both"
        )
    alias = fields.get("objectAlias", "")
    if alias:
        _check_alias(alias, where)
        file_name = alias
    else:
        file_name = _translate(name, translation)
        _check_relative_path(file_name, f"{where}: the file name {file_name!r}")
    permission = _file_permission(fields.get("filePermission", ""), where)
    jmes = tuple(
        _parse_jmes_entry(item, f"{where}.jmesPath[{position}]")
        for position, item in enumerate(_list_field(entry, "jmesPath", where))
    )
    return SecretObject(
        object_name=name,
        object_type=object_type,
        file_name=file_name,
        object_alias=alias,
        object_version=version,
        object_version_label=label,
        file_permission=permission,
        jmes_path=jmes,
    )


def _parse_jmes_entry(item: Any, where: str) -> JmesPathEntry:
    fields = _string_fields(item, _JMES_KEYS, where)
    path = fields.get("path", "")
    alias = fields.get("objectAlias", "")
    if not path:
        raise ObjectSpecError(f"{where}: path must be specified for a jmesPath entry")
    if not alias:
        raise ObjectSpecError(f"{where}: objectAlias must be specified for a jmesPath entry")
    try:
        jmespath.compile(path)
    except jmespath.exceptions.JMESPathError as error:
        raise ObjectSpecError(f"{where}: invalid JMES path {path!r}: {error}") from error
    _check_alias(alias, where)
    return JmesPathEntry(
        path=path,
        object_alias=alias,
        file_permission=_file_permission(fields.get("filePermission", ""), where),
    )


def _string_fields(entry: Any, known: dict[str, str], where: str) -> dict[str, str]:
    """The scalar fields of a mapping under their canonical names; lists/maps left out."""
    if not isinstance(entry, dict):
        raise ObjectSpecError(
            f"{where} must be a mapping of keys such as objectName, not {entry!r}"
        )
    fields: dict[str, str] = {}
    for key, value in entry.items():
        canonical = known.get(str(key).lower())
        if canonical is None:
            raise ObjectSpecError(
                f"{where}: unknown key {key!r}; the keys are {', '.join(sorted(known.values()))}"
            )
        if canonical in ("jmesPath", "failoverObject"):
            continue
        if not isinstance(value, str):
            raise ObjectSpecError(
                f"{where}: {canonical} must be a string, not {value!r}: quote it in the YAML"
            )
        fields[canonical] = value
    return fields


def _list_field(entry: dict[str, Any], key: str, where: str) -> list[Any]:
    for name, value in entry.items():
        if str(name).lower() == key.lower():
            if value is None:
                return []
            if not isinstance(value, list):
                raise ObjectSpecError(
                    f"{where}: {key} must be a list of entries with path and objectAlias"
                )
            return value
    return []


def _object_type(name: str, declared: str, region: str, where: str) -> ObjectType:
    arn_type: ObjectType | None = None
    if name.startswith("arn:"):
        parts = name.split(":", 5)
        if len(parts) != 6 or not all(parts[1:3]) or not parts[5]:
            raise ObjectSpecError(f"{where}: invalid ARN format in objectName")
        service, arn_region = parts[2], parts[3]
        if arn_region != region:
            raise ObjectSpecError(
                f"{where}: the ARN's region {arn_region!r} must match the mount's region {region!r}"
            )
        arn_type = _ARN_SERVICES.get(service)
        if arn_type is None and not declared:
            raise ObjectSpecError(f"{where}: invalid service {service!r} in ARN")
    if not declared:
        if arn_type is None:
            raise ObjectSpecError(
                f"{where}: objectType must be set (secretsmanager or ssmparameter) "
                "when objectName is not a full ARN"
            )
        return arn_type
    try:
        object_type = ObjectType(declared)
    except ValueError:
        raise ObjectSpecError(
            f"{where}: invalid objectType {declared!r}: use secretsmanager or ssmparameter"
        ) from None
    if arn_type is not None and arn_type is not object_type:
        raise ObjectSpecError(f"{where}: objectType {declared!r} does not match the ARN")
    return object_type


def _translate(name: str, translation: str | None) -> str:
    if translation is None:
        return name.lstrip("/")
    return name.replace("/", translation)


def _check_alias(alias: str, where: str) -> None:
    if "/" in alias or "\\" in alias:
        raise ObjectSpecError(
            f"{where}: objectAlias {alias!r} is a file name and cannot hold a path separator"
        )
    _check_relative_path(alias, f"{where}: objectAlias {alias!r}")


def check_file_path(path: str) -> None:
    """Reject a file path that could leave the mount (absolute, '.', '..', empty parts)."""
    _check_relative_path(path, f"file path {path!r}")


def _check_relative_path(path: str, what: str) -> None:
    parts = path.split("/")
    if (
        path.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or path.startswith("..")
    ):
        raise ObjectSpecError(
            f"{what} cannot be used as a file in the mount: it must be relative, "
            "with no empty, '.' or '..' part"
        )


def _file_permission(value: str, where: str) -> int | None:
    if not value:
        return None
    if not _FILE_PERMISSION.match(value):
        raise ObjectSpecError(
            f"{where}: invalid filePermission {value!r}: use four octal digits such as '0640'"
        )
    return int(value, 8)


def _check_unique_file_names(objects: list[SecretObject]) -> None:
    """Two entries mounted under one name would overwrite each other: refuse."""
    files: dict[str, str] = {}
    directories: dict[str, str] = {}
    for obj in objects:
        names = [(obj.file_name, obj.object_name)] + [
            (entry.object_alias, f"{obj.object_name} jmesPath {entry.path}")
            for entry in obj.jmes_path
        ]
        for file_name, owner in names:
            if file_name in files:
                raise ObjectSpecError(
                    f"duplicate object alias or file name {file_name!r}: {files[file_name]} and "
                    f"{owner} would both be mounted there; give one a different objectAlias"
                )
            # With pathTranslation False a name can be a directory of another's file.
            parents = _parents(file_name)
            clash = directories.get(file_name) or next(
                (files[parent] for parent in parents if parent in files), None
            )
            if clash is not None:
                raise ObjectSpecError(
                    f"file name {file_name!r} of {owner} clashes with {clash}: one would be "
                    "a directory of the other; give one a different objectAlias"
                )
            files[file_name] = owner
            for parent in parents:
                directories.setdefault(parent, owner)


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]
