#!/usr/bin/env python3
"""Promote images to EKS: pin the eks overlay's image (tag and digest) and version values.

    scripts/ci/promote.py --service main-api --tag <40-hex git SHA> --digest sha256:<64 hex>
    task ci:promote SERVICE=main-api TAG=<sha> DIGEST=sha256:<hex>

Changes exactly these fields of each named service, and every other byte of the files stays:

    overlays/eks/<service>/kustomization.yaml  images[name=kontaxa/<service>].newTag and .digest
    overlays/eks/<service>/version.yaml        data.GIT_SHA, data.APP_VERSION, data.BUILD_TIME

The digest is the one ECR reported for the image that passed e2e on kind (publish-image.sh
pushes that very image): the overlay renders `<registry>/kontaxa/<service>:<tag>@<digest>`,
and the kubelet pulls by digest, so what runs on EKS is byte for byte what was tested.

GIT_SHA is the tag; APP_VERSION is the service's pyproject version at that commit and
BUILD_TIME the commit's time in UTC: the values the image build writes into the image's
labels (scripts/images/lib.sh), so the ConfigMap describes the image it runs with. A second
run with the same tag changes nothing. --check writes nothing and exits 1 when a change is
due (the dry run).

Every knob is an option or environment variable with a default:

    --overlay DIR      KONTAXA_EKS_OVERLAY   the overlay to edit (infra/k8s/overlays/eks)
    --app-version V                          instead of the pyproject version at TAG
    --build-time T                           instead of the commit time of TAG (UTC, ...Z)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OVERLAY = REPO_ROOT / "infra" / "k8s" / "overlays" / "eks"
# Services deployed on EKS and their image names (contract: kontaxa/<service> in ECR).
IMAGES = {"main-api": "kontaxa/main-api", "aux-service": "kontaxa/aux-service"}
GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
BUILD_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+!-]*$")


class PromotionError(Exception):
    """A promotion that cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class FieldChange:
    """One field of one file: where, and its value before and after."""

    path: Path
    field: str
    old: str
    new: str

    def describe(self, root: Path) -> str:
        """`file: field old -> new`, with the file relative to root when it can be."""
        where = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        return f"{where}: {self.field} {self.old} -> {self.new}"


# ---- values ------------------------------------------------------------------------------
def _git(*args: str) -> str:
    result = subprocess.run(  # noqa: S603 (fixed git subcommands; the tag is validated hex)
        ["git", "-C", str(REPO_ROOT), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )
    if result.returncode != 0:
        raise PromotionError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _missing_commit(error: PromotionError, tag: str) -> PromotionError:
    return PromotionError(
        f"{error}\ncommit {tag} is not in this clone: fetch it (actions/checkout with "
        "fetch-depth: 0) or pass --app-version and --build-time"
    )


def app_version_at(tag: str, service: str) -> str:
    """The `version` of services/<service>/pyproject.toml at commit `tag`."""
    try:
        text = _git("show", f"{tag}:services/{service}/pyproject.toml")
    except PromotionError as error:
        raise _missing_commit(error, tag) from error
    version = tomllib.loads(text).get("project", {}).get("version")
    if not isinstance(version, str):
        raise PromotionError(f"services/{service}/pyproject.toml at {tag} has no project.version")
    return version


def build_time_of(tag: str) -> str:
    """The commit time of `tag` in UTC, as the image build labels it (created_of in lib.sh)."""
    try:
        return _git(
            "log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", tag
        ).strip()
    except PromotionError as error:
        raise _missing_commit(error, tag) from error


# ---- exact edits ----------------------------------------------------------------------------
def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _render_scalar(original: yaml.ScalarNode, value: str) -> str:
    """`value` in the quoting style of the scalar it replaces (plain only where that is safe)."""
    if original.style == "'":
        return "'" + value.replace("'", "''") + "'"
    plain_is_string = yaml.safe_load(value) == value and value.strip() == value
    if original.style is None and plain_is_string:
        return value
    # Double quotes keep a SHA such as 1234e567... a string for every YAML parser.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        items: dict[str, Any] = {}
        for key, child in value.items():
            items.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return items
    if isinstance(value, list):
        items = {}
        for index, child in enumerate(value):
            items.update(_flatten(child, f"{prefix}[{index}]"))
        return items
    return {prefix: value}


def edit_scalars(
    text: str, wanted: dict[tuple[str, ...], str], label: str
) -> tuple[str, dict[str, str]]:
    """Set the scalars at the given key paths, touching no other byte of the document.

    A path is a tuple of keys; `("images", "name=kontaxa/x", "newTag")` selects the list
    item whose `name` is `kontaxa/x`. Returns the new text and the old value of each path.
    """
    root = yaml.compose(text)
    if root is None:
        raise PromotionError(f"{label}: empty document")
    edits: list[tuple[int, int, str]] = []
    old_values: dict[str, str] = {}
    for path, value in wanted.items():
        node: yaml.Node | None = root
        for part in path:
            if node is None:
                break
            if "=" in part and isinstance(node, yaml.SequenceNode):
                key, _, match = part.partition("=")
                node = next(
                    (
                        item
                        for item in node.value
                        if (v := _mapping_get(item, key)) is not None
                        and isinstance(v, yaml.ScalarNode)
                        and v.value == match
                    ),
                    None,
                )
            else:
                node = _mapping_get(node, part)
        dotted = ".".join(path)
        if not isinstance(node, yaml.ScalarNode):
            raise PromotionError(
                f"{label}: no scalar at {dotted}; the overlay must carry this field for "
                "promotion to set it"
            )
        old_values[dotted] = node.value
        if node.value != value:
            edits.append((node.start_mark.index, node.end_mark.index, _render_scalar(node, value)))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, old_values


def _check_only_intended(before: str, after: str, intended: dict[str, str], label: str) -> None:
    """Parse both versions; fail unless exactly the intended fields differ, as intended."""
    old, new = _flatten(yaml.safe_load(before)), _flatten(yaml.safe_load(after))
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    unexpected = changed - intended.keys()
    wrong = {key: new.get(key) for key in intended if new.get(key) != intended[key]}
    if unexpected or wrong:
        raise PromotionError(
            f"{label}: refusing to write: unexpected changes {sorted(unexpected)}, "
            f"wrong values {wrong}"
        )


def _image_index(text: str, image: str, label: str) -> int:
    images = (yaml.safe_load(text) or {}).get("images") or []
    names = [entry.get("name") for entry in images]
    if names.count(image) != 1:
        raise PromotionError(f"{label}: expected one images entry named {image}, found {names}")
    return names.index(image)


def pinned_image(overlay: Path, service: str) -> tuple[str, str]:
    """The (tag, digest) the eks overlay pins for `service`: what that environment runs."""
    path = overlay / service / "kustomization.yaml"
    if not path.is_file():
        raise PromotionError(f"{path} is missing: the eks overlay must have it")
    text = path.read_text()
    entry = (yaml.safe_load(text) or {})["images"][_image_index(text, IMAGES[service], str(path))]
    tag, digest = str(entry.get("newTag", "")), str(entry.get("digest", ""))
    if not GIT_SHA.match(tag) or not DIGEST.match(digest):
        raise PromotionError(
            f"{path}: {IMAGES[service]} must pin newTag <40-hex SHA> and digest sha256:<64 hex>, "
            f"not {tag!r} and {digest!r}"
        )
    return tag, digest


def plan_service(
    overlay: Path, service: str, tag: str, digest: str, app_version: str, build_time: str
) -> tuple[dict[Path, str], list[FieldChange]]:
    """New contents of the service's two overlay files and the field changes they hold."""
    image = IMAGES[service]
    contents: dict[Path, str] = {}
    changes: list[FieldChange] = []
    kustomization = overlay / service / "kustomization.yaml"
    version_file = overlay / service / "version.yaml"
    targets: dict[Path, dict[tuple[str, ...], str]] = {
        kustomization: {
            ("images", f"name={image}", "newTag"): tag,
            ("images", f"name={image}", "digest"): digest,
        },
        version_file: {
            ("data", "GIT_SHA"): tag,
            ("data", "APP_VERSION"): app_version,
            ("data", "BUILD_TIME"): build_time,
        },
    }
    for path, wanted in targets.items():
        if not path.is_file():
            raise PromotionError(f"{path} is missing: the eks overlay must have it")
        before = path.read_text()
        after, old_values = edit_scalars(before, wanted, str(path))
        if path == kustomization:
            index = _image_index(before, image, str(path))
            intended = {f"images[{index}].newTag": tag, f"images[{index}].digest": digest}
        else:
            intended = {".".join(key): value for key, value in wanted.items()}
        _check_only_intended(before, after, intended, str(path))
        contents[path] = after
        for key, value in wanted.items():
            dotted = ".".join(key)
            field = f"images[{image}].{key[-1]}" if path == kustomization else dotted
            if old_values[dotted] != value:
                changes.append(FieldChange(path, field, old_values[dotted], value))
    return contents, changes


# ---- command line ----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, validated."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--service", action="append", required=True, choices=sorted(IMAGES), help="repeatable"
    )
    parser.add_argument("--tag", required=True, help="the image tag: a full 40-hex git SHA")
    parser.add_argument(
        "--digest", required=True, help="the pushed image's digest in ECR: sha256:<64 hex>"
    )
    parser.add_argument(
        "--overlay", type=Path, default=Path(os.environ.get("KONTAXA_EKS_OVERLAY", DEFAULT_OVERLAY))
    )
    parser.add_argument("--app-version")
    parser.add_argument("--build-time")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a change is due"
    )
    args = parser.parse_args(argv)
    if not GIT_SHA.match(args.tag):
        parser.error(f"--tag must be a full lowercase 40-hex git SHA, not {args.tag!r}")
    if not DIGEST.match(args.digest):
        parser.error(f"--digest must be sha256:<64 lowercase hex>, not {args.digest!r}")
    if args.build_time is not None and not BUILD_TIME.match(args.build_time):
        parser.error("--build-time must look like 2026-01-31T12:00:00Z")
    if args.app_version is not None and not VERSION.match(args.app_version):
        parser.error(f"--app-version {args.app_version!r} is not a version")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    overlay: Path = args.overlay.resolve()
    try:
        build_time = args.build_time or build_time_of(args.tag)
        planned: dict[Path, str] = {}
        changes: list[FieldChange] = []
        for service in dict.fromkeys(args.service):
            app_version = args.app_version or app_version_at(args.tag, service)
            contents, service_changes = plan_service(
                overlay, service, args.tag, args.digest, app_version, build_time
            )
            planned.update(contents)
            changes.extend(service_changes)
    except PromotionError as error:
        print(f"promote: error: {error}", file=sys.stderr)
        return 2
    for change in changes:
        print(f"promote: {change.describe(REPO_ROOT)}")
    if not changes:
        print(f"promote: {', '.join(args.service)} already at {args.tag}: nothing to change")
        return 0
    if args.check:
        print("promote: --check: nothing written", file=sys.stderr)
        return 1
    for path, text in planned.items():
        if path.read_text() != text:
            path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
