"""The AWS provider's `objects` syntax: parsing, validation and the file name of each object.

Behaves as aws/secrets-store-csi-driver-provider-aws at chart 2.1.1
(`provider/secret_descriptor.go`, `NewSecretDescriptorList`), so one
SecretProviderClass mounts the same files on EKS and locally:

- `objects` is read as sigs.k8s.io/yaml v1.6.0 reads it (`load_objects`): YAML
  1.1 as go-yaml v2 resolves it, numbers and booleans turned into strings where
  a string is expected (`objectVersion: 1` is "1"), keys matched
  case-insensitively, unknown keys ignored.
- The file name is the objectAlias, or else the objectName, with every "/"
  replaced by the pathTranslation character (default "_"); with
  pathTranslation False, leading slashes are dropped instead. jmesPath aliases
  are translated the same way.
- Two entries with one file name are not an error unless the upstream rules
  say so (same objectName with the same alias/label, a repeated objectAlias,
  a jmesPath alias used twice): the later entry overwrites the earlier.

What upstream silently accepts but is almost certainly a mistake (a misspelt
key, a file name used twice, an alias that translation changes, an unquoted
version) is reported by `secrets_provider.lint`, not refused here.
"""

import math
import posixpath
import re
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from secrets_provider.errors import ObjectSpecError

DEFAULT_PATH_TRANSLATION = "_"

_FILE_PERMISSION = re.compile(r"^[0-7]{4}$")
# provider/secret_descriptor.go badPathRE: a "../" in the file name.
_BAD_PATH = re.compile(r"(/\.\./)|(^\.\./)|(/\.\.$)")


class ObjectType(StrEnum):
    """Where an object is stored (the `objectType` values)."""

    SECRETS_MANAGER = "secretsmanager"
    SSM_PARAMETER = "ssmparameter"


# provider/secret_descriptor.go typeMap: objectType values and ARN services.
_TYPES = {
    "secretsmanager": ObjectType.SECRETS_MANAGER,
    "ssmparameter": ObjectType.SSM_PARAMETER,
    "ssm": ObjectType.SSM_PARAMETER,
}

# The fields of SecretDescriptor, JMESPathEntry and FailoverObjectEntry (their json tags).
OBJECT_KEYS = (
    "objectName",
    "objectAlias",
    "objectVersion",
    "objectVersionLabel",
    "objectType",
    "filePermission",
    "jmesPath",
    "failoverObject",
)
JMES_KEYS = ("path", "objectAlias", "filePermission")
FAILOVER_KEYS = ("objectName", "objectVersion", "objectVersionLabel")
_LIST_FIELDS = {"jmesPath"}
_STRUCT_FIELDS = {"failoverObject"}


@dataclass(frozen=True)
class JmesPathEntry:
    """One key of a JSON object value, mounted as its own file."""

    path: str
    object_alias: str
    file_permission: int | None = None
    file_name: str = ""


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


# go-yaml v2 (go.yaml.in/yaml/v2 v2.4.2, resolve.go) resolves plain scalars as
# YAML 1.1 does, with a few differences from PyYAML's SafeLoader that matter
# here: y/Y/n/N are booleans, there are no base-60 numbers, a timestamp decoded
# into interface{} stays a string (decode.go), and integers follow Go's
# strconv.ParseInt(s, 0, 64) with "_" removed (0x, 0o, 0b and leading-0 octal).
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$")
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_BOOLS = {
    **dict.fromkeys(
        ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True
    ),
    **dict.fromkeys(
        ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False
    ),
}
_GO_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
}
_GO_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_INT64 = (-(2**63), 2**64 - 1)  # int64 or uint64


class _GoYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml v2's resolution of plain scalars."""


# Every plain scalar resolves through one resolver (below); none of PyYAML's own.
_GoYamlLoader.yaml_implicit_resolvers = {}
_GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])
_GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:go-plain", re.compile(r"(?s).*"), None)


def _go_plain_scalar(loader: _GoYamlLoader, node: yaml.ScalarNode) -> Any:
    return resolve_go_plain(node.value)


_GoYamlLoader.add_constructor("tag:yaml.org,2002:go-plain", _go_plain_scalar)


def resolve_go_plain(text: str) -> Any:
    """What go-yaml v2 decodes an untagged plain scalar into (interface{} target)."""
    if text in _GO_NULLS:
        return None
    if text in _GO_BOOLS:
        return _GO_BOOLS[text]
    if text in _GO_SPECIAL_FLOATS:
        return _GO_SPECIAL_FLOATS[text]
    if not text or text[0] not in "+-.0123456789":
        return text
    plain = text.replace("_", "")
    if _GO_INT.match(plain):
        number = _go_parse_int(plain)
        if number is not None and _INT64[0] <= number <= _INT64[1]:
            return number
    if _GO_FLOAT.match(plain):
        try:
            return float(plain)
        except ValueError:
            pass
    return text


def _go_parse_int(plain: str) -> int | None:
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    lowered = digits.lower()
    try:
        if lowered.startswith(("0x", "0o", "0b")):
            return sign * int(digits, 0)
        if len(digits) > 1 and digits.startswith("0"):
            return sign * int(digits, 8)
        return sign * int(digits)
    except ValueError:
        return None


def go_format_float32(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32): how sigs.k8s.io/yaml stringifies a float.

    The shortest digits that read back as the same float32; %e form when the
    exponent is below -4 or at least 6 (strconv/ftoa.go, shortest 'g').
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    single = _float32(value)
    sign = "-" if math.copysign(1.0, single) < 0 else ""
    if single == 0:
        return sign + "0"
    mantissa = next(
        text
        for precision in range(9)
        if _float32(float(text := f"{abs(single):.{precision}e}")) == abs(single)
    )
    digits_part, exponent_part = mantissa.split("e")
    digits = digits_part.replace(".", "").rstrip("0") or "0"
    exponent = int(exponent_part)
    if exponent < -4 or exponent >= 6:
        rest = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    point = exponent + 1  # digits before the decimal point
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def load_objects(objects: str) -> Any:
    """The `objects` YAML as go-yaml v2 decodes it (scalars keep their YAML types)."""
    try:
        return yaml.load(objects, Loader=_GoYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ObjectSpecError(
            f"Failed to load SecretProviderClass: objects is not valid YAML: {error}"
        ) from error
    except RecursionError:
        raise ObjectSpecError(
            "Failed to load SecretProviderClass: objects is nested too deeply to be read"
        ) from None


def _as_go_string(value: Any, where: str) -> str:
    """sigs.k8s.io/yaml's coercion of a scalar into a Go string field; lists and maps fail."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float32(value)
    if isinstance(value, str):
        return value
    kind = "array" if isinstance(value, list) else "object"
    raise ObjectSpecError(
        f"Failed to load SecretProviderClass: {where} must be a string, not a YAML {kind}"
    )


def _key_string(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return go_format_float32(key)
    if isinstance(key, int | str):
        return str(key)
    raise ObjectSpecError(f"Failed to load SecretProviderClass: unsupported map key {key!r}")


def match_key(key: str, fields: tuple[str, ...]) -> str | None:
    """The field a JSON key decodes into (exact match, else case-insensitive), or None."""
    if key in fields:
        return key
    folded = key.lower()
    return next((field for field in fields if field.lower() == folded), None)


def decode_struct(mapping: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    """Go's json.Unmarshal of a converted YAML mapping into a struct with these fields.

    Keys are visited in the order json.Marshal writes them (sorted), so of two
    keys that fold to one field the later in byte order wins; unknown keys are
    ignored.
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ObjectSpecError(
            f"Failed to load SecretProviderClass: {where} must be a mapping of keys such as "
            f"{fields[0]}, not {mapping!r}"
        )
    decoded: dict[str, Any] = {}
    keys = {_key_string(key): value for key, value in mapping.items()}
    for key in sorted(keys, key=lambda name: name.encode()):
        field = match_key(key, fields)
        if field is None:
            continue
        value = keys[key]
        if field in _LIST_FIELDS:
            if value is not None and not isinstance(value, list):
                raise ObjectSpecError(
                    f"Failed to load SecretProviderClass: {where}.{field} must be a list"
                )
            decoded[field] = value or []
        elif field in _STRUCT_FIELDS:
            decoded[field] = decode_struct(value, FAILOVER_KEYS, f"{where}.{field}")
        else:
            decoded[field] = _as_go_string(value, f"{where}.{field}")
    return decoded


def path_translation_character(value: str) -> str | None:
    """The character replacing "/" in file names; None keeps slashes (pathTranslation False)."""
    if value == "":
        return DEFAULT_PATH_TRANSLATION
    if value.lower() == "false":
        return None
    if len(value.encode()) != 1:  # Go's len(): bytes
        raise ObjectSpecError(
            f"pathTranslation must be either 'False' or a single character string, not {value!r}"
        )
    return value


def file_name_for(name: str, translation: str | None) -> str:
    """provider/secret_descriptor.go GetFileName: "/" translated, or leading "/" dropped."""
    if translation is None:
        return name.lstrip("/")
    return name.replace("/", translation)


def parse_objects(
    objects: str, *, region: str, path_translation: str = "", failover_region: str = ""
) -> list[SecretObject]:
    """Parse and validate the `objects` YAML of a SecretProviderClass, as the AWS provider does.

    `region` is the region the objects are read from (ARNs must name it);
    `path_translation` the `pathTranslation` parameter; `failover_region` the
    `failoverRegion` parameter (only validated: one emulator has one region).
    """
    translation = path_translation_character(path_translation)
    entries = load_objects(objects)
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ObjectSpecError(
            "Failed to load SecretProviderClass: objects must be a YAML list of entries such as "
            "'- objectName: ...\\n  objectType: secretsmanager'"
        )
    regions = [region] + ([failover_region] if failover_region else [])
    parsed: list[SecretObject] = []
    seen_names: dict[str, tuple[str, str]] = {}
    seen_aliases: set[str] = set()
    for index, entry in enumerate(entries):
        if entry is None:
            # Upstream decodes this into a nil pointer and crashes; refuse it clearly.
            raise ObjectSpecError(f"objects[{index}] is empty: remove it or give it an objectName")
        obj = _parse_entry(entry, index, regions, translation)
        _check_duplicates(obj, seen_names, seen_aliases)
        parsed.append(obj)
    if not parsed:
        # Upstream returns no files and no versions, which the driver refuses
        # (provider_client.go: errMissingObjectVersions): fail with the reason here.
        raise ObjectSpecError("objects lists no object: name at least one secret or parameter")
    return parsed


def _parse_entry(
    entry: Any, index: int, regions: list[str], translation: str | None
) -> SecretObject:
    fields = decode_struct(entry, OBJECT_KEYS, f"objects[{index}]")
    name: str = fields.get("objectName", "")
    where = f"objects[{index}] ({name or 'no objectName'})"
    if not name:
        raise ObjectSpecError(f"{where}: Object name must be specified (objectName)")
    declared: str = fields.get("objectType", "")
    object_type = _validate_object_name(name, declared, regions[0], where)
    version: str = fields.get("objectVersion", "")
    label: str = fields.get("objectVersionLabel", "")
    if object_type is ObjectType.SSM_PARAMETER and version and label:
        raise ObjectSpecError(
            f"{where}: ssm parameters can not specify both objectVersion and objectVersionLabel"
        )
    alias: str = fields.get("objectAlias", "")
    file_name = file_name_for(alias or name, translation)
    if _BAD_PATH.search(file_name):
        raise ObjectSpecError(f"{where}: path can not contain ../: {file_name!r}")
    permission = _file_permission(fields.get("filePermission", ""), where)
    jmes = tuple(
        _parse_jmes_entry(item, f"{where}.jmesPath[{position}]", translation)
        for position, item in enumerate(fields.get("jmesPath", []))
    )
    failover = fields.get("failoverObject", {})
    if failover.get("objectName"):
        _validate_failover(failover, fields, object_type, regions, where)
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


def _parse_jmes_entry(item: Any, where: str, translation: str | None) -> JmesPathEntry:
    fields = decode_struct(item, JMES_KEYS, where)
    path: str = fields.get("path", "")
    alias: str = fields.get("objectAlias", "")
    if not path:
        raise ObjectSpecError(f"{where}: Path must be specified for JMES object")
    if not alias:
        raise ObjectSpecError(f"{where}: Object alias must be specified for JMES object")
    return JmesPathEntry(
        path=path,
        object_alias=alias,
        file_permission=_file_permission(fields.get("filePermission", ""), where),
        file_name=file_name_for(alias, translation),
    )


def _validate_object_name(name: str, declared: str, region: str, where: str) -> ObjectType:
    """provider/secret_descriptor.go validateObjectName; returns GetSecretType()."""
    service = ""
    if name.startswith("arn:"):
        parts = name.split(":", 5)  # aws-sdk-go-v2 arn.Parse: six sections
        if len(parts) != 6:
            raise ObjectSpecError(f"{where}: Invalid ARN format in object name: {name}")
        service = parts[2]
        if parts[3] != region:
            raise ObjectSpecError(f"{where}: ARN region must match region {region}: {name}")
    elif not declared:
        raise ObjectSpecError(
            f"{where}: Must use objectType (secretsmanager or ssmparameter) when a full ARN "
            f"is not specified: {name}"
        )
    if not declared:
        if service not in _TYPES:
            raise ObjectSpecError(f"{where}: Invalid service in ARN: {service}")
        return _TYPES[service]
    if declared not in _TYPES or declared == "ssm":
        raise ObjectSpecError(
            f"{where}: Invalid objectType: {declared} (use secretsmanager or ssmparameter)"
        )
    # Go's typeMap[service] is SSMParameter (the zero value) for an unknown service.
    if service and _TYPES[declared] is not _TYPES.get(service, ObjectType.SSM_PARAMETER):
        raise ObjectSpecError(f"{where}: objectType does not match ARN: {name}")
    return _TYPES[declared]


def _validate_failover(
    failover: dict[str, str],
    fields: dict[str, Any],
    object_type: ObjectType,
    regions: list[str],
    where: str,
) -> None:
    if not fields.get("objectAlias"):
        raise ObjectSpecError(
            f"{where}: object alias must be specified for objects with failover entries"
        )
    if len(regions) < 2:
        raise ObjectSpecError(
            f"{where}: failover object allowed only when failover region is defined"
        )
    _validate_object_name(failover["objectName"], fields.get("objectType", ""), regions[1], where)
    if (
        object_type is ObjectType.SSM_PARAMETER
        and failover.get("objectVersion")
        and failover.get("objectVersionLabel")
    ):
        raise ObjectSpecError(
            f"{where}: ssm parameters can not specify both objectVersion and objectVersionLabel"
        )
    if failover.get("objectVersion", "") != fields.get("objectVersion", ""):
        raise ObjectSpecError(
            f"{where}: object versions must match between primary and failover regions"
        )


def _check_duplicates(
    obj: SecretObject, seen_names: dict[str, tuple[str, str]], seen_aliases: set[str]
) -> None:
    """NewSecretDescriptorList's duplicate rules; any other repeated file name is overwritten."""
    alias, label = obj.object_alias, obj.object_version_label
    found = seen_names.get(obj.object_name)
    if found is not None:
        found_alias, found_label = found
        prefix = f"found descriptor with duplicate object name {obj.object_name}"
        if alias and found_alias and alias == found_alias and not label and not found_label:
            raise ObjectSpecError(f"{prefix}, duplicate object alias {alias}, and no version label")
        if not alias and not found_alias and label and found_label and label == found_label:
            raise ObjectSpecError(f"{prefix}, no object alias, and duplicate version label {label}")
        if alias and alias == found_alias and label and label == found_label:
            raise ObjectSpecError(
                f"{prefix}, duplicate object alias {alias}, and duplicate version label {label}"
            )
        if not alias and not found_alias and not label and not found_label:
            raise ObjectSpecError(f"{prefix}, no object alias, and no version label")
    seen_names[obj.object_name] = (alias, label)
    if alias in seen_aliases:
        raise ObjectSpecError(f"found duplicate object alias {alias}")
    if alias:
        seen_aliases.add(alias)
    for entry in obj.jmes_path:
        if entry.object_alias in seen_aliases:
            raise ObjectSpecError(
                "Name already in use for objectAlias: found duplicate object alias "
                f"{entry.object_alias} in JMES path entry {entry.path}"
            )
        seen_aliases.add(entry.object_alias)


def _file_permission(value: str, where: str) -> int | None:
    if not value:
        return None
    if not _FILE_PERMISSION.match(value):
        raise ObjectSpecError(
            f"{where}: Invalid File Permission: {value} (use four octal digits such as '0640')"
        )
    return int(value, 8)


# The CSI driver's checks on each file path it writes (v1.5.6
# pkg/util/fileutil/writer.go Validate and atomic_writer.go validatePath).
_MAX_PATH_BYTES = 4096
_MAX_FILE_NAME_BYTES = 255


def check_file_path(path: str) -> None:
    """Refuse a path the CSI driver would refuse to write (absolute, '..', unclean, too long)."""
    problem = ""
    parts = path.split("/")
    if not path:
        problem = "it is empty"
    elif path.startswith("/"):
        problem = "it must be a relative path"
    elif len(path.encode()) > _MAX_PATH_BYTES:
        problem = f"it is longer than {_MAX_PATH_BYTES} bytes"
    elif ".." in parts:
        problem = "it must not contain '..'"
    elif any(len(part.encode()) > _MAX_FILE_NAME_BYTES for part in parts):
        problem = f"a file name in it is longer than {_MAX_FILE_NAME_BYTES} bytes"
    elif parts[0].startswith("..") and len(parts[0]) > 2:
        problem = "it must not start with '..'"
    elif posixpath.normpath(path) != path:
        problem = "it is not a clean path (no '.', empty or trailing parts)"
    if problem:
        raise ObjectSpecError(f"file path {path!r} cannot be written into the mount: {problem}")
