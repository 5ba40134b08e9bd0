#!/usr/bin/env python3
"""Tag the images the eks overlay pins with `release-<SHA>` in ECR, so no lifecycle rule
expires them while an environment runs them.

    scripts/ci/release_tag.py                   (task ci:release-tag)
    scripts/ci/release_tag.py --check           writes nothing; exit 1 when a tag is due

For each service of the eks overlay (`images[name=kontaxa/<service>]`: newTag <SHA> and
digest sha256:...), the image is read from ECR by its digest (BatchGetImage) and its manifest
put back under the tag `release-<SHA>` with that digest (PutImage): ECR's retagging, which
moves no layer. The ECR module's lifecycle policy never expires an image with a tag of that
prefix (infra/terraform/modules/ecr), while it keeps only the newest unreleased images.

Upstream rules relied on (Amazon ECR API Reference and User Guide):
- PutImage with imageDigest: ECR refuses a manifest whose digest differs
  (ImageDigestDoesNotMatchException), so the tag lands on exactly the pinned image.
- An IMMUTABLE repository refuses a tag that exists (ImageTagAlreadyExistsException, "Preventing
  image tags from being overwritten"), also when it already names this very image; a MUTABLE
  one answers ImageAlreadyExistsException. A new tag on an existing image is allowed.
  Either answer is checked: the tag at the pinned digest is success (a re-run), at another
  digest an error.

Everything is read and checked first; only then is anything tagged, so a bad pin tags nothing.
The all-zero digest the repository ships in the overlay means "never promoted": skipped.

Every knob is an option or environment variable with a default:

    --overlay DIR      KONTAXA_EKS_OVERLAY   the overlay to read (infra/k8s/overlays/eks)
    --prefix P         RELEASE_TAG_PREFIX    tag prefix (release-; the ECR module's
                                             release_tag_prefix)
    AWS_REGION and credentials: boto3's (configure-aws-credentials in CI); AWS_ENDPOINT_URL
    points it at an emulator.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_ecr.type_defs import ImageIdentifierTypeDef, ImageTypeDef

sys.path.insert(0, str(Path(__file__).resolve().parent))
from promote import DEFAULT_OVERLAY, IMAGES, PromotionError, pinned_image

DEFAULT_PREFIX = "release-"
NEVER_PROMOTED = "sha256:" + "0" * 64
# BatchGetImage returns the manifest as stored only in a media type the caller accepts
# (ECR API Reference, BatchGetImage acceptedMediaTypes): accept what docker and OCI push.
ACCEPTED_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]
TAG_ALREADY_THERE = {"ImageTagAlreadyExistsException", "ImageAlreadyExistsException"}
PREFIX = re.compile(r"^[A-Za-z0-9_.-]+$")


class ReleaseTagError(Exception):
    """A release tag that cannot be set; the message says what and why."""


@dataclass(frozen=True)
class Release:
    """One pinned image: where it is, and the tag it gets."""

    repository: str
    digest: str
    tag: str
    manifest: str
    media_type: str


class Registry:
    """The ECR calls of the release tagging, and nothing else (the CI role grants these)."""

    def __init__(self) -> None:
        self.ecr = boto3.client("ecr")

    def _image(self, repository: str, image_id: ImageIdentifierTypeDef) -> ImageTypeDef | None:
        reply = self.ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[image_id],
            acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
        )
        images = reply.get("images") or []
        return images[0] if images else None

    def digest_of(self, repository: str, tag: str) -> str | None:
        """The digest `tag` names in `repository`, or None when no image has it."""
        image = self._image(repository, {"imageTag": tag})
        return None if image is None else str(image["imageId"]["imageDigest"])

    def plan(self, repository: str, source_tag: str, digest: str, tag: str) -> Release | None:
        """The release to make, or None when `tag` already names `digest`."""
        image = self._image(repository, {"imageDigest": digest})
        if image is None:
            raise ReleaseTagError(
                f"{repository}@{digest} is not in ECR: the overlay pins an image the "
                "registry does not hold (expired, or never pushed); promote an image that is"
            )
        manifest = str(image["imageManifest"])
        if "sha256:" + hashlib.sha256(manifest.encode()).hexdigest() != digest:
            raise ReleaseTagError(
                f"{repository}@{digest}: ECR returned a manifest of another digest "
                "(converted to another media type?); refusing to tag it"
            )
        source = self.digest_of(repository, source_tag)
        if source != digest:
            raise ReleaseTagError(
                f"{repository}: the overlay pins {source_tag}@{digest}, but ECR's tag "
                f"{source_tag} names {source}: fix the pin before it is released"
            )
        existing = self.digest_of(repository, tag)
        if existing == digest:
            return None
        if existing is not None:
            raise ReleaseTagError(f"{repository}:{tag} already names {existing}, not {digest}")
        media_type = str(image.get("imageManifestMediaType") or "")
        return Release(repository, digest, tag, manifest, media_type)

    def tag(self, release: Release) -> bool:
        """Put the release tag; False when ECR says it is there already, at this digest."""
        arguments: dict[str, str] = {
            "repositoryName": release.repository,
            "imageManifest": release.manifest,
            "imageTag": release.tag,
            "imageDigest": release.digest,
        }
        if release.media_type:
            arguments["imageManifestMediaType"] = release.media_type
        try:
            self.ecr.put_image(**arguments)
        except ClientError as error:
            # A concurrent run, or a re-run: check where the existing tag points.
            if error.response.get("Error", {}).get("Code") not in TAG_ALREADY_THERE:
                raise
            existing = self.digest_of(release.repository, release.tag)
            if existing != release.digest:
                raise ReleaseTagError(
                    f"{release.repository}:{release.tag} already names {existing}, "
                    f"not {release.digest}"
                ) from error
            return False
        return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, validated."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--overlay", type=Path, default=Path(os.environ.get("KONTAXA_EKS_OVERLAY", DEFAULT_OVERLAY))
    )
    parser.add_argument("--prefix", default=os.environ.get("RELEASE_TAG_PREFIX", DEFAULT_PREFIX))
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a tag is due"
    )
    args = parser.parse_args(argv)
    if not PREFIX.match(args.prefix):
        parser.error(f"--prefix must be a non-empty image tag prefix, not {args.prefix!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    try:
        registry = Registry()
        due: list[Release] = []
        for service, repository in IMAGES.items():
            source_tag, digest = pinned_image(args.overlay, service)
            if digest == NEVER_PROMOTED:
                print(f"release-tag: {service}: never promoted (all-zero digest): skipped")
                continue
            tag = f"{args.prefix}{source_tag}"
            release = registry.plan(repository, source_tag, digest, tag)
            if release is None:
                print(f"release-tag: {repository}:{tag} already names {digest}")
            else:
                due.append(release)
        if args.check:
            for release in due:
                print(f"release-tag: due: {release.repository}:{release.tag} -> {release.digest}")
            return 1 if due else 0
        for release in due:
            made = registry.tag(release)
            state = "tagged" if made else "already tagged (a concurrent run)"
            print(f"release-tag: {state}: {release.repository}:{release.tag} -> {release.digest}")
    except (PromotionError, ReleaseTagError) as error:
        print(f"release-tag: error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"release-tag: error: ECR: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
