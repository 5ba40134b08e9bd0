"""Fetch the objects of a SecretProviderClass and build the files of the mount.

This is the one implementation behind every mode: the gRPC provider in kind,
and the local runner that writes each service's secrets directory itself. Both
call `fetch_files_for_parameters` (or `mount_directory`) with the class's
`parameters`, so the file names the services read come from the same code.

Credentials come from the caller's environment (the default boto3 chain, i.e.
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), never from the pod being mounted.
"""

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import jmespath
import jmespath.exceptions
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from secrets_provider.errors import (
    ObjectContentError,
    ObjectNotFoundError,
    ObjectSpecError,
    StoreError,
)
from secrets_provider.files import DEFAULT_FILE_MODE, SecretFile, write_files
from secrets_provider.objects import ObjectType, SecretObject, parse_objects

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger(__name__)

# SecretProviderClass parameters this provider reads (the AWS provider's names).
OBJECTS_PARAMETER = "objects"
REGION_PARAMETER = "region"
PATH_TRANSLATION_PARAMETER = "pathTranslation"
FAILOVER_REGION_PARAMETER = "failoverRegion"
USE_POD_IDENTITY_PARAMETER = "usePodIdentity"
PREFERRED_ADDRESS_TYPE_PARAMETER = "preferredAddressType"
# Go's strconv.ParseBool, which the AWS provider applies to usePodIdentity.
_GO_BOOL_STRINGS = frozenset(
    ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")
)
_ADDRESS_TYPES = frozenset(("ipv4", "ipv6", "auto", ""))

# The emulator answers in milliseconds; fail a mount fast rather than hang the kubelet.
_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
)
# boto3 sessions are not thread-safe; the clients they make are. A caller that
# shares one session across threads (the gRPC server) makes its clients one at a time.
_CLIENT_CREATION = threading.Lock()
_NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "ParameterVersionLabelNotFound",
    }
)


def fetch_files(
    objects: str | Sequence[SecretObject],
    current_versions: Mapping[str, str] | None = None,
    *,
    region: str,
    endpoint_url: str | None = None,
    default_mode: int = DEFAULT_FILE_MODE,
    path_translation: str = "",
    failover_region: str = "",
    session: boto3.session.Session | None = None,
) -> tuple[list[SecretFile], dict[str, str]]:
    """Fetch every object and return the mount's files and `{file name: version}`.

    `objects` is the `objects` YAML or the result of `parse_objects`.
    `current_versions` are the versions mounted now (the MountRequest's); an
    object whose version changed is logged as rotated. The files are always the
    whole mount, fetched afresh; two entries with one file name leave the later
    one's file, as with the AWS provider. `endpoint_url` None leaves it to
    boto3, which honours AWS_ENDPOINT_URL. Raises a MountError subclass;
    nothing is written.
    """
    parsed = (
        parse_objects(
            objects,
            region=region,
            path_translation=path_translation,
            failover_region=failover_region,
        )
        if isinstance(objects, str)
        else list(objects)
    )
    if not parsed:
        raise ObjectSpecError("objects lists no object: name at least one secret or parameter")
    store = _Store(session or boto3.session.Session(), region, endpoint_url)
    # Keyed by file name: a later entry overwrites an earlier one, as the driver's
    # WritePayloads (a map by path) does with the AWS provider's response.
    files: dict[str, SecretFile] = {}
    versions: dict[str, str] = {}
    for obj in parsed:
        value, version = store.fetch(obj)
        object_mode = default_mode if obj.file_permission is None else obj.file_permission
        files[obj.file_name] = SecretFile(obj.file_name, object_mode, value)
        versions[obj.file_name] = version
        if obj.jmes_path:
            document = _json_document(obj, value)
            for entry in obj.jmes_path:
                mode = object_mode if entry.file_permission is None else entry.file_permission
                contents = _jmes_value(obj, entry.path, entry.object_alias, document)
                files[entry.file_name] = SecretFile(entry.file_name, mode, contents)
                versions[entry.file_name] = version
    _log_rotations(current_versions or {}, versions)
    return list(files.values()), versions


def fetch_files_for_parameters(
    parameters: Mapping[str, str],
    current_versions: Mapping[str, str] | None = None,
    *,
    default_region: str,
    endpoint_url: str | None = None,
    default_mode: int = DEFAULT_FILE_MODE,
    session: boto3.session.Session | None = None,
) -> tuple[list[SecretFile], dict[str, str]]:
    """`fetch_files` for a SecretProviderClass's `parameters`, checked as the AWS provider does.

    `objects`, `region` and `pathTranslation` are used. `failoverRegion`,
    `usePodIdentity` and `preferredAddressType` are validated as server/server.go
    validates them, then ignored: the emulator has one region, and credentials
    are the caller's own. Other keys (pod info, tokens) are ignored.
    """
    objects = parameters.get(OBJECTS_PARAMETER)
    if not objects:
        raise ObjectSpecError(
            f"the SecretProviderClass parameters have no {OBJECTS_PARAMETER!r}: "
            "list the secrets and parameters to mount there"
        )
    region = parameters.get(REGION_PARAMETER) or default_region
    if not region:
        raise ObjectSpecError("no region: set `region` in the SecretProviderClass parameters")
    address_type = parameters.get(PREFERRED_ADDRESS_TYPE_PARAMETER, "")
    if address_type not in _ADDRESS_TYPES:
        raise ObjectSpecError(
            f"invalid preferred address type: {address_type} (use ipv4, ipv6 or auto)"
        )
    failover_region = parameters.get(FAILOVER_REGION_PARAMETER, "")
    if failover_region and failover_region == region:
        raise ObjectSpecError(f"{region}: failover region cannot be the same as the primary region")
    pod_identity = parameters.get(USE_POD_IDENTITY_PARAMETER, "")
    if pod_identity and pod_identity not in _GO_BOOL_STRINGS:
        raise ObjectSpecError(
            f"failed to parse usePodIdentity value {pod_identity!r}: use true or false"
        )
    return fetch_files(
        objects,
        current_versions,
        region=region,
        endpoint_url=endpoint_url,
        default_mode=default_mode,
        path_translation=parameters.get(PATH_TRANSLATION_PARAMETER, ""),
        failover_region=failover_region,
        session=session,
    )


def mount_directory(
    directory: Path,
    parameters: Mapping[str, str],
    current_versions: Mapping[str, str] | None = None,
    *,
    default_region: str,
    endpoint_url: str | None = None,
    default_mode: int = DEFAULT_FILE_MODE,
    session: boto3.session.Session | None = None,
) -> dict[str, str]:
    """Fetch as `fetch_files_for_parameters`, write the files into `directory`; return the versions.

    All objects are fetched before anything is written, and the write is atomic,
    so a failed mount leaves the directory as it was.
    """
    files, versions = fetch_files_for_parameters(
        parameters,
        current_versions,
        default_region=default_region,
        endpoint_url=endpoint_url,
        default_mode=default_mode,
        session=session,
    )
    write_files(directory, files)
    return versions


class _Store:
    """Secrets Manager and Parameter Store clients for one mount."""

    def __init__(
        self, session: boto3.session.Session, region: str, endpoint_url: str | None
    ) -> None:
        self._session = session
        self._region = region
        self._endpoint_url = endpoint_url
        self._secrets: SecretsManagerClient | None = None
        self._parameters: SSMClient | None = None

    def fetch(self, obj: SecretObject) -> tuple[bytes, str]:
        """The object's value and version; MountError subclasses on failure."""
        try:
            if obj.object_type is ObjectType.SECRETS_MANAGER:
                return self._fetch_secret(obj)
            return self._fetch_parameter(obj)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFoundError(
                    f"{_describe(obj)} not found in region {self._region} ({code}): create it, "
                    "or fix objectName, objectVersion or objectVersionLabel in the "
                    "SecretProviderClass"
                ) from error
            raise StoreError(f"reading {_describe(obj)} failed: {code}: {message}") from error
        except NoCredentialsError as error:
            raise StoreError(
                "no AWS credentials in the provider's environment: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (the emulator's dummy values)"
            ) from error
        except (BotoCoreError, ValueError) as error:
            raise StoreError(
                f"reading {_describe(obj)} failed: {error}; is the emulator running at "
                f"{self._endpoint_url or 'the AWS_ENDPOINT_URL'}?"
            ) from error

    def _fetch_secret(self, obj: SecretObject) -> tuple[bytes, str]:
        if self._secrets is None:
            with _CLIENT_CREATION:
                self._secrets = self._session.client(
                    "secretsmanager",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=_CLIENT_CONFIG,
                )
        request: dict[str, Any] = {"SecretId": obj.object_name}
        if obj.object_version:
            request["VersionId"] = obj.object_version
        if obj.object_version_label:
            request["VersionStage"] = obj.object_version_label
        response = self._secrets.get_secret_value(**request)
        if "SecretString" in response:
            value = response["SecretString"].encode()
        else:
            value = response.get("SecretBinary", b"")
        return value, response["VersionId"]

    def _fetch_parameter(self, obj: SecretObject) -> tuple[bytes, str]:
        if self._parameters is None:
            with _CLIENT_CREATION:
                self._parameters = self._session.client(
                    "ssm",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=_CLIENT_CONFIG,
                )
        name = obj.object_name
        # Parameter Store's selector syntax: name:version or name:label.
        selector = obj.object_version or obj.object_version_label
        if selector:
            name = f"{name}:{selector}"
        parameter = self._parameters.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        return parameter.get("Value", "").encode(), str(parameter.get("Version", ""))


def _describe(obj: SecretObject) -> str:
    kind = "secret" if obj.object_type is ObjectType.SECRETS_MANAGER else "SSM parameter"
    pinned = ""
    if obj.object_version:
        pinned += f" version {obj.object_version!r}"
    if obj.object_version_label:
        pinned += f" label {obj.object_version_label!r}"
    return f"{kind} {obj.object_name!r}{pinned}"


def _json_document(obj: SecretObject, value: bytes) -> Any:
    """The secret as JSON, as Go's encoding/json reads it for the AWS provider: NaN and
    Infinity are no JSON, and a number beyond a float64 (`1e999`) is refused, not infinite."""
    try:
        return json.loads(value, parse_constant=_no_json_constant, parse_float=_finite_float)
    except ValueError:
        raise ObjectContentError(
            f"{_describe(obj)} is not valid JSON, so its jmesPath entries cannot be read: "
            "store a JSON object or remove jmesPath"
        ) from None
    except RecursionError:  # Go's decoder stops at a depth of 10,000, Python's sooner
        raise ObjectContentError(
            f"{_describe(obj)} is JSON nested too deeply to be read for its jmesPath entries"
        ) from None


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError("a number out of a float64's range")
    return number


def _jmes_value(obj: SecretObject, path: str, alias: str, document: Any) -> bytes:
    try:
        found = jmespath.search(path, document)
    except jmespath.exceptions.JMESPathTypeError as error:
        # Its message quotes the value the function was given: a piece of the secret, which
        # would reach the log and the pod's FailedMount event. The types say enough.
        raise ObjectContentError(
            f"JMES path {path!r} of {_describe(obj)} failed: {error.function_name}() takes "
            f"{' or '.join(error.expected_types)}, not the {error.actual_type} it was given"
        ) from None
    except TypeError:  # jmespath 1.1 lets Python's own escape (`a > \`1\`` on a string)
        raise ObjectContentError(
            f"JMES path {path!r} of {_describe(obj)} failed: it compares or orders values of "
            "different types"
        ) from None
    except jmespath.exceptions.JMESPathError as error:  # parse, arity, unknown function
        raise ObjectContentError(
            f"JMES path {path!r} of {_describe(obj)} failed: {error}"
        ) from error
    except (ValueError, ArithmeticError, RecursionError) as error:
        # Python's own, which jmespath lets through (`floor` of a number too large for an
        # integer, say); the message may quote the value, so only its kind is told.
        raise ObjectContentError(
            f"JMES path {path!r} of {_describe(obj)} failed on a value it was given "
            f"({type(error).__name__})"
        ) from None
    if found is None:
        raise ObjectContentError(
            f"JMES path {path!r} for objectAlias {alias!r} does not point to a value in "
            f"{_describe(obj)}: add the key to the secret or fix the path"
        )
    if not isinstance(found, str):
        raise ObjectContentError(
            f"JMES path {path!r} of {_describe(obj)} selects a {type(found).__name__}; "
            "only a string can be mounted as a file"
        )
    return found.encode()


def _log_rotations(current: Mapping[str, str], fetched: Mapping[str, str]) -> None:
    for name, version in fetched.items():
        previous = current.get(name)
        if previous is not None and previous != version:
            logger.info("object %s rotated from version %s to %s", name, previous, version)
