"""`python -m secrets_provider.lint`: what the AWS provider silently accepts but is a mistake.

The provider (ours, like the official one) mounts a SecretProviderClass as
aws/secrets-store-csi-driver-provider-aws 2.1.1 does, so a class that works on
EKS works in kind. The official provider quietly accepts a few things that are
almost certainly mistakes; this linter reports them, for every
SecretProviderClass of the given manifests:

- unknown-key: a key of an `objects` entry, jmesPath entry, failoverObject or
  of `parameters` that nothing reads (a typo such as `objectAliass`), or a
  known key spelled with other capitals (decoded case-insensitively);
- duplicate-file: two entries mounted under one file name (the later
  overwrites the earlier), or a file that is also another's directory;
- alias-translated: an objectAlias that pathTranslation changes (`a/b`
  mounted as `a_b`);
- unquoted-scalar: a number or boolean where a string is expected
  (`objectVersion: 1`, `filePermission: 0640` which is octal 416);
- invalid: what fails the mount anyway (the provider's own message).

Arguments are kustomization directories (rendered with `kubectl kustomize`),
YAML files, or `-` for standard input. Exit status: 0 clean, 1 findings,
2 unusable input.
"""

import argparse
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from secrets_provider.errors import ObjectSpecError
from secrets_provider.fetch import (
    FAILOVER_REGION_PARAMETER,
    OBJECTS_PARAMETER,
    PATH_TRANSLATION_PARAMETER,
    PREFERRED_ADDRESS_TYPE_PARAMETER,
    REGION_PARAMETER,
    USE_POD_IDENTITY_PARAMETER,
)
from secrets_provider.objects import (
    FAILOVER_KEYS,
    JMES_KEYS,
    OBJECT_KEYS,
    load_objects,
    match_key,
    parse_objects,
    path_translation_character,
)

# server/server.go reads these attributes; the map is case-sensitive.
_PARAMETERS = (
    OBJECTS_PARAMETER,
    REGION_PARAMETER,
    PATH_TRANSLATION_PARAMETER,
    FAILOVER_REGION_PARAMETER,
    USE_POD_IDENTITY_PARAMETER,
    PREFERRED_ADDRESS_TYPE_PARAMETER,
)
_STRING_FIELDS = {
    key
    for key in (*OBJECT_KEYS, *JMES_KEYS, *FAILOVER_KEYS)
    if key not in ("jmesPath", "failoverObject")
}


@dataclass(frozen=True)
class Finding:
    """One problem of one SecretProviderClass."""

    source: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.kind}: {self.message}"


def lint_class(
    spc: dict[str, Any], source: str, default_region: str = "us-east-1"
) -> list[Finding]:
    """The findings of one SecretProviderClass object (a parsed manifest)."""
    metadata = spc.get("metadata") or {}
    where = f"{source}: SecretProviderClass {metadata.get('namespace', '-')}/{metadata.get('name')}"
    spec = spc.get("spec") or {}
    if spec.get("provider") != "aws":
        return []
    parameters = spec.get("parameters") or {}
    findings = [
        Finding(where, "unknown-key", f"parameters.{key}: {_unknown(key, _PARAMETERS)}")
        for key in parameters
        if key not in _PARAMETERS
    ]
    objects = parameters.get(OBJECTS_PARAMETER, "")
    try:
        raw = load_objects(objects) if isinstance(objects, str) else objects
    except ObjectSpecError as error:
        return [*findings, Finding(where, "invalid", str(error))]
    findings += [Finding(where, kind, message) for kind, message in _raw_findings(raw)]
    try:
        translation = path_translation_character(
            str(parameters.get(PATH_TRANSLATION_PARAMETER, ""))
        )
        parsed = parse_objects(
            str(objects),
            region=str(parameters.get(REGION_PARAMETER) or default_region),
            path_translation=str(parameters.get(PATH_TRANSLATION_PARAMETER, "")),
            failover_region=str(parameters.get(FAILOVER_REGION_PARAMETER, "")),
        )
    except ObjectSpecError as error:
        return [*findings, Finding(where, "invalid", str(error))]
    owners: dict[str, str] = {}
    for index, obj in enumerate(parsed):
        names = [(obj.file_name, obj.object_alias, f"objects[{index}] ({obj.object_name})")]
        names += [
            (entry.file_name, entry.object_alias, f"objects[{index}].jmesPath[{position}]")
            for position, entry in enumerate(obj.jmes_path)
        ]
        for file_name, alias, owner in names:
            if alias and file_name != alias:
                findings.append(
                    Finding(
                        where,
                        "alias-translated",
                        f"{owner}: objectAlias {alias!r} is mounted as {file_name!r} "
                        f"(pathTranslation {translation or 'False'!r}); name the file "
                        f"{file_name!r} to say so",
                    )
                )
            findings += _clashes(where, file_name, owner, owners)
            owners[file_name] = owner
    return findings


def _unknown(key: str, known: Iterable[str]) -> str:
    canonical = match_key(key, tuple(known))
    if canonical is not None:
        return f"spelled {key!r}, the key is {canonical!r} (matched only case-insensitively)"
    return f"unknown key {key!r}, ignored by the AWS provider; the keys are {', '.join(known)}"


def _raw_findings(raw: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(raw, list):
        return
    for index, entry in enumerate(raw):
        if isinstance(entry, dict):
            yield from _mapping_findings(entry, OBJECT_KEYS, f"objects[{index}]")


def _mapping_findings(
    mapping: dict[Any, Any], known: tuple[str, ...], where: str
) -> Iterator[tuple[str, str]]:
    for key, value in mapping.items():
        field = match_key(str(key), known)
        if field != key:
            yield "unknown-key", f"{where}.{key}: {_unknown(str(key), known)}"
        if field in _STRING_FIELDS and isinstance(value, bool | int | float):
            yield (
                "unquoted-scalar",
                f"{where}.{field}: {value!r} is a YAML {type(value).__name__}, read as a string by "
                f"the AWS provider; quote it as it is meant (YAML 1.1: 0640 is octal, yes is true)",
            )
        if field == "jmesPath" and isinstance(value, list):
            for position, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _mapping_findings(item, JMES_KEYS, f"{where}.jmesPath[{position}]")
        if field == "failoverObject" and isinstance(value, dict):
            yield from _mapping_findings(value, FAILOVER_KEYS, f"{where}.failoverObject")


def _clashes(where: str, file_name: str, owner: str, owners: dict[str, str]) -> list[Finding]:
    if file_name in owners:
        return [
            Finding(
                where,
                "duplicate-file",
                f"{owners[file_name]} and {owner} are both mounted as {file_name!r}: the later "
                "overwrites the earlier; give one another objectAlias",
            )
        ]
    return [
        Finding(
            where,
            "duplicate-file",
            f"{owners[other]} ({other!r}) and {owner} ({file_name!r}): one is the other's "
            "directory, which the driver cannot write",
        )
        for other in owners
        if other.startswith(f"{file_name}/") or file_name.startswith(f"{other}/")
    ]


def lint_documents(documents: Iterable[Any], source: str, default_region: str) -> list[Finding]:
    """The findings of every SecretProviderClass among parsed manifests."""
    return [
        finding
        for document in documents
        if isinstance(document, dict) and document.get("kind") == "SecretProviderClass"
        for finding in lint_class(document, source, default_region)
    ]


def _documents(argument: str) -> tuple[list[Any], str]:
    if argument == "-":
        return list(yaml.safe_load_all(sys.stdin.read())), "<stdin>"
    path = Path(argument)
    if path.is_dir():
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise ValueError(f"{argument} is a directory and kubectl (to render it) is not on PATH")
        result = subprocess.run(  # noqa: S603 - kubectl from PATH, a path argument
            [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ValueError(f"kubectl kustomize {argument} failed: {result.stderr.strip()}")
        return list(yaml.safe_load_all(result.stdout)), argument
    return list(yaml.safe_load_all(path.read_text())), argument


def main(argv: list[str] | None = None) -> int:
    """Lint the SecretProviderClasses of the arguments; 0 clean, 1 findings, 2 bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m secrets_provider.lint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("paths", nargs="+", help="kustomization directories, YAML files, or -")
    parser.add_argument(
        "--default-region", default="us-east-1", help="region of a class without one"
    )
    arguments = parser.parse_args(argv)
    findings: list[Finding] = []
    classes = 0
    for argument in arguments.paths:
        try:
            documents, source = _documents(argument)
        except (OSError, ValueError, yaml.YAMLError) as error:
            print(f"secrets-lint: {argument}: {error}", file=sys.stderr)
            return 2
        classes += sum(
            1 for d in documents if isinstance(d, dict) and d.get("kind") == "SecretProviderClass"
        )
        findings += lint_documents(documents, source, arguments.default_region)
    for finding in findings:
        print(finding)
    print(
        f"secrets-lint: {classes} SecretProviderClasses, {len(findings)} findings", file=sys.stderr
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
