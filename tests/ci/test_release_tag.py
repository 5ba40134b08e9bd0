"""scripts/ci/release_tag.py: the image each environment runs gets `release-<SHA>` in ECR.

Run as the workflow runs it (a process, boto3 through AWS_ENDPOINT_URL) against a moto server
over HTTP, with IMMUTABLE repositories holding images pushed the way ECR stores them: the
digest is the sha256 of the manifest bytes (OCI image spec, "Digests"; ECR checks it on
PutImage, ImageDigestDoesNotMatchException). moto computes another digest when none is given,
so the pushes here give it.

Where moto differs from ECR: an IMMUTABLE repository answers a re-put of an existing tag with
ImageTagAlreadyExistsException in ECR (ECR User Guide, "Preventing image tags from being
overwritten"; aws/containers-roadmap#2179: also when the digest is the same), with
ImageAlreadyExistsException in moto 5.2. The re-run over moto takes moto's path; ECR's answer
is injected with botocore's Stubber (test_ecr_s_immutable_answer_to_a_rerun_is_success).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from .conftest import CI_SCRIPTS, REPO_ROOT, load_module, output_of, promote, run, terraform_harness

RELEASE_TAG = CI_SCRIPTS / "release_tag.py"
release_tag = load_module("scripts.ci.release_tag", RELEASE_TAG)
EKS = Path("infra/k8s/overlays/eks")
MAIN_TAG = "0123456789abcdef0123456789abcdef01234567"
AUX_TAG = "89abcdef0123456789abcdef0123456789abcdef"
OLD_TAG = "fedcba9876543210fedcba9876543210fedcba98"


def _manifest(seed: str) -> str:
    """A Docker image manifest v2 schema 2, as docker push stores it."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1234,
                "digest": "sha256:" + hashlib.sha256(f"config-{seed}".encode()).hexdigest(),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 5678,
                    "digest": "sha256:" + hashlib.sha256(f"layer-{seed}".encode()).hexdigest(),
                }
            ],
        },
        indent=3,
    )


def _digest(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


class Account:
    """The moto server with the two app repositories, as Terraform makes them (IMMUTABLE)."""

    def __init__(self, endpoint_url: str) -> None:
        self.env = terraform_harness.emulator_env(endpoint_url)
        self.ecr = boto3.client(
            "ecr",
            endpoint_url=endpoint_url,
            region_name=terraform_harness.REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def push(self, repository: str, tag: str, seed: str) -> str:
        """Push an image under `tag` with ECR's digest; return the digest."""
        manifest = _manifest(seed)
        digest = _digest(manifest)
        self.ecr.put_image(
            repositoryName=repository, imageManifest=manifest, imageTag=tag, imageDigest=digest
        )
        return digest

    def tags_of(self, repository: str, digest: str) -> set[str]:
        """The tags of the image with `digest`."""
        (detail,) = self.ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageDigest": digest}]
        )["imageDetails"]
        return set(detail.get("imageTags") or [])


@pytest.fixture
def account(moto_server: Any) -> Iterator[Account]:
    """Fresh IMMUTABLE kontaxa/main-api and kontaxa/aux-service repositories."""
    account = Account(moto_server.endpoint_url)
    for repository in promote.IMAGES.values():
        account.ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    yield account
    for repository in promote.IMAGES.values():
        account.ecr.delete_repository(repositoryName=repository, force=True)


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """A copy of the eks overlay (as committed: never promoted)."""
    shutil.copytree(REPO_ROOT / EKS, tmp_path / EKS)
    return tmp_path / EKS


def _pin(overlay: Path, service: str, tag: str, digest: str) -> None:
    """Pin the overlay as a promotion does: promote.py itself."""
    status = promote.main(
        [
            "--overlay", str(overlay), "--service", service, "--tag", tag, "--digest", digest,
            "--app-version", "1.0.0", "--build-time", "2030-01-02T03:04:05Z",
        ]
    )  # fmt: skip
    assert status == 0


def _release_tag(account: Account, overlay: Path, *args: str) -> Any:
    return run(
        [sys.executable, RELEASE_TAG, "--overlay", overlay, *args], env=account.env, timeout=60
    )


def test_tags_each_pinned_image_and_a_rerun_changes_nothing(
    account: Account, overlay: Path
) -> None:
    old = account.push("kontaxa/main-api", OLD_TAG, "old")
    main = account.push("kontaxa/main-api", MAIN_TAG, "main")
    aux = account.push("kontaxa/aux-service", AUX_TAG, "aux")
    _pin(overlay, "main-api", MAIN_TAG, main)
    _pin(overlay, "aux-service", AUX_TAG, aux)

    check = _release_tag(account, overlay, "--check")
    assert check.returncode == 1, output_of(check)
    assert f"due: kontaxa/main-api:release-{MAIN_TAG} -> {main}" in check.stdout
    assert account.tags_of("kontaxa/main-api", main) == {MAIN_TAG}, "--check wrote"

    first = _release_tag(account, overlay)
    assert first.returncode == 0, output_of(first)
    assert f"tagged: kontaxa/main-api:release-{MAIN_TAG} -> {main}" in first.stdout
    assert f"tagged: kontaxa/aux-service:release-{AUX_TAG} -> {aux}" in first.stdout
    # The same image (digest) carries both tags; no other image was touched.
    assert account.tags_of("kontaxa/main-api", main) == {MAIN_TAG, f"release-{MAIN_TAG}"}
    assert account.tags_of("kontaxa/aux-service", aux) == {AUX_TAG, f"release-{AUX_TAG}"}
    assert account.tags_of("kontaxa/main-api", old) == {OLD_TAG}

    again = _release_tag(account, overlay)
    assert again.returncode == 0, output_of(again)
    assert "tagged:" not in again.stdout
    assert f"kontaxa/main-api:release-{MAIN_TAG} already names {main}" in again.stdout
    assert _release_tag(account, overlay, "--check").returncode == 0


def _registry(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    """The script's Registry in this process, its boto3 client configured by `env` alone."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return release_tag.Registry()


def test_a_put_that_finds_the_tag_in_place_is_success_over_http(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent run tagged between the check and the put: moto's answer over HTTP."""
    main = account.push("kontaxa/main-api", MAIN_TAG, "main")
    registry = _registry(monkeypatch, account.env)
    release = registry.plan("kontaxa/main-api", MAIN_TAG, main, f"release-{MAIN_TAG}")
    assert release is not None
    assert registry.tag(release) is True
    assert registry.tag(release) is False
    assert account.tags_of("kontaxa/main-api", main) == {MAIN_TAG, f"release-{MAIN_TAG}"}


def test_ecr_s_immutable_answer_to_a_rerun_is_success(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECR's own answer (ImageTagAlreadyExistsException), which moto does not give."""
    digest = _digest(_manifest("main"))
    registry = _registry(monkeypatch, terraform_harness.emulator_env("http://127.0.0.1:9"))
    release = release_tag.Release(
        "kontaxa/main-api", digest, f"release-{MAIN_TAG}", _manifest("main"), ""
    )
    for existing, expected in ((digest, False), ("sha256:" + "1" * 64, None)):
        with Stubber(registry.ecr) as stub:
            stub.add_client_error("put_image", "ImageTagAlreadyExistsException")
            stub.add_response(
                "batch_get_image",
                {"images": [{"imageId": {"imageDigest": existing}, "imageManifest": "{}"}]},
            )
            if expected is None:
                with pytest.raises(release_tag.ReleaseTagError, match="already names"):
                    registry.tag(release)
            else:
                assert registry.tag(release) is expected


def test_nothing_is_tagged_when_one_pin_is_wrong(account: Account, overlay: Path) -> None:
    """Every pin is checked before any tag is put: a bad one fails the run and tags nothing."""
    main = account.push("kontaxa/main-api", MAIN_TAG, "main")
    _pin(overlay, "main-api", MAIN_TAG, main)
    _pin(overlay, "aux-service", AUX_TAG, "sha256:" + "ab" * 32)  # never pushed (or expired)
    result = _release_tag(account, overlay)
    assert result.returncode == 2, output_of(result)
    assert re.search(r"kontaxa/aux-service@sha256:(ab)+ is not in ECR", result.stderr)
    assert "Traceback" not in result.stderr
    assert account.tags_of("kontaxa/main-api", main) == {MAIN_TAG}


def test_a_pin_whose_tag_names_another_image_is_refused(account: Account, overlay: Path) -> None:
    main = account.push("kontaxa/main-api", MAIN_TAG, "main")
    other = account.push("kontaxa/main-api", OLD_TAG, "old")
    _pin(overlay, "main-api", MAIN_TAG, other)
    result = _release_tag(account, overlay)
    assert result.returncode == 2, output_of(result)
    assert f"ECR's tag {MAIN_TAG} names {main}" in result.stderr
    assert account.tags_of("kontaxa/main-api", other) == {OLD_TAG}


def test_a_release_tag_on_another_image_is_an_error(account: Account, overlay: Path) -> None:
    main = account.push("kontaxa/main-api", MAIN_TAG, "main")
    account.push("kontaxa/main-api", f"release-{MAIN_TAG}", "impostor")
    _pin(overlay, "main-api", MAIN_TAG, main)
    result = _release_tag(account, overlay)
    assert result.returncode == 2, output_of(result)
    assert f"kontaxa/main-api:release-{MAIN_TAG} already names sha256:" in result.stderr


def test_the_committed_overlay_is_never_promoted_and_is_skipped(
    account: Account, overlay: Path
) -> None:
    result = _release_tag(account, overlay)
    assert result.returncode == 0, output_of(result)
    for service in promote.IMAGES:
        assert f"{service}: never promoted (all-zero digest): skipped" in result.stdout


def test_the_prefix_is_the_one_the_ecr_lifecycle_policy_keeps() -> None:
    """One prefix: the script's default is the ECR module's release_tag_prefix default."""
    variables = (REPO_ROOT / "infra/terraform/modules/ecr/variables.tf").read_text()
    block = re.search(r'variable "release_tag_prefix" \{(.*?)\n\}', variables, re.S)
    assert block, "modules/ecr has no release_tag_prefix"
    default = re.search(r'default\s*=\s*"([^"]+)"', block.group(1))
    assert default
    assert default.group(1) == release_tag.DEFAULT_PREFIX


def test_bad_input_is_refused_with_a_message(account: Account, overlay: Path) -> None:
    bad_prefix = _release_tag(account, overlay, "--prefix", "rel ease")
    assert bad_prefix.returncode == 2
    assert "--prefix must be a non-empty image tag prefix" in bad_prefix.stderr
    (overlay / "aux-service" / "kustomization.yaml").unlink()
    missing = _release_tag(account, overlay)
    assert missing.returncode == 2, output_of(missing)
    assert "aux-service/kustomization.yaml is missing" in missing.stderr
    assert "Traceback" not in missing.stderr
