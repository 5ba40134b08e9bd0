"""scripts/ci/promote.py: the promotion's tag bump in the eks overlay.

It must change exactly the image tag and the three version values of the promoted service,
leave every other byte alone, change nothing when run again, and the rendered overlay must
then run the new image.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO_ROOT, git, output_of, promote, run

PROMOTE = REPO_ROOT / "scripts" / "ci" / "promote.py"
EKS = Path("infra/k8s/overlays/eks")
TAG = "0123456789abcdef0123456789abcdef01234567"
SECOND_TAG = "89abcdef0123456789abcdef0123456789abcdef"
REGISTRY = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
PIN = ("--digest", DIGEST)
BUILT = ("--build-time", "2030-01-02T03:04:05Z")  # the made-up tags are no commits here


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of infra/k8s (bases and overlays) where the overlay can be edited and rendered."""
    shutil.copytree(REPO_ROOT / "infra" / "k8s" / "apps", tmp_path / "infra/k8s/apps")
    shutil.copytree(REPO_ROOT / EKS, tmp_path / EKS)
    return tmp_path


def _promote(tree: Path, *args: str) -> Any:
    """promote.py on the copy; the digest is added unless the test gives its own."""
    pin = () if "--digest" in args else PIN
    return run([sys.executable, PROMOTE, "--overlay", tree / EKS, *args, *pin])


def _flat(path: Path) -> dict[str, Any]:
    return promote._flatten(yaml.safe_load(path.read_text()))


def _snapshot(tree: Path) -> dict[Path, str]:
    return {path: path.read_text() for path in sorted((tree / EKS).rglob("*.yaml"))}


def _changed_fields(before: dict[Path, str], tree: Path) -> dict[str, tuple[Any, Any]]:
    """Every field that differs from `before`, as 'service/file:key' -> (old, new)."""
    changed: dict[str, tuple[Any, Any]] = {}
    for path, text in before.items():
        old, new = promote._flatten(yaml.safe_load(text)), _flat(path)
        for key in old.keys() | new.keys():
            if old.get(key) != new.get(key):
                name = f"{path.parent.name}/{path.name}:{key}"
                changed[name] = (old.get(key), new.get(key))
    return changed


def test_changes_exactly_the_tag_and_the_version_values(tree: Path) -> None:
    before = _snapshot(tree)
    old_tag = _flat(tree / EKS / "main-api/kustomization.yaml")["images[0].newTag"]
    old_digest = _flat(tree / EKS / "main-api/kustomization.yaml")["images[0].digest"]
    result = _promote(
        tree,
        "--service", "main-api",
        "--tag", TAG,
        "--app-version", "9.8.7",
        "--build-time", "2030-01-02T03:04:05Z",
    )  # fmt: skip
    assert result.returncode == 0, output_of(result)
    assert _changed_fields(before, tree) == {
        "main-api/kustomization.yaml:images[0].newTag": (old_tag, TAG),
        "main-api/kustomization.yaml:images[0].digest": (old_digest, DIGEST),
        "main-api/version.yaml:data.GIT_SHA": (old_tag, TAG),
        "main-api/version.yaml:data.APP_VERSION": ("0.1.0", "9.8.7"),
        "main-api/version.yaml:data.BUILD_TIME": ("2026-01-01T00:00:00Z", "2030-01-02T03:04:05Z"),
    }
    # Byte for byte: only the lines holding those four values differ; comments stay.
    for path, text in before.items():
        old_lines, new_lines = text.splitlines(), path.read_text().splitlines()
        assert len(old_lines) == len(new_lines), path
        differing = [new for old, new in zip(old_lines, new_lines, strict=True) if old != new]
        keys = {line.split(":")[0].strip() for line in differing}
        assert keys <= {"newTag", "digest", "GIT_SHA", "APP_VERSION", "BUILD_TIME"}, differing
    assert "images[kontaxa/main-api].newTag" in result.stdout
    assert "images[kontaxa/main-api].digest" in result.stdout


def test_second_run_changes_nothing_and_check_is_the_dry_run(tree: Path) -> None:
    args = ("--service", "aux-service", "--tag", TAG, "--app-version", "2.0.0", *BUILT)
    before = _snapshot(tree)
    due = _promote(tree, *args, "--check")
    assert due.returncode == 1, output_of(due)
    assert "images[kontaxa/aux-service].newTag" in due.stdout
    assert _snapshot(tree) == before, "--check wrote something"

    first = _promote(tree, *args)
    assert first.returncode == 0, output_of(first)
    after_first = _snapshot(tree)
    assert after_first != before
    second = _promote(tree, *args)
    assert second.returncode == 0, output_of(second)
    assert "nothing to change" in second.stdout
    assert _snapshot(tree) == after_first, "a second run changed the files"
    assert _promote(tree, *args, "--check").returncode == 0


def test_rendered_eks_overlay_runs_the_new_image(tree: Path, kubectl: str) -> None:
    result = _promote(tree, "--service", "main-api", "--tag", TAG, "--app-version", "1.2.3", *BUILT)
    assert result.returncode == 0, output_of(result)
    rendered = run([kubectl, "kustomize", tree / EKS])
    assert rendered.returncode == 0, output_of(rendered)
    objects = {
        (item["kind"], item["metadata"]["name"]): item
        for item in yaml.safe_load_all(rendered.stdout)
        if item
    }
    images = {
        name: [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]]
        for (kind, name), obj in objects.items()
        if kind == "Deployment"
    }
    # Pulled by digest: the tag stays for people, the kubelet resolves the digest.
    assert images["main-api"] == [f"{REGISTRY}/kontaxa/main-api:{TAG}@{DIGEST}"]
    # The other service is not promoted by this run.
    aux = _flat(REPO_ROOT / EKS / "aux-service/kustomization.yaml")
    aux_image = f"{REGISTRY}/kontaxa/aux-service:{aux['images[0].newTag']}"
    assert images["aux-service"] == [f"{aux_image}@{aux['images[0].digest']}"]
    (config,) = [
        obj["data"]
        for (kind, name), obj in objects.items()
        if kind == "ConfigMap" and re.fullmatch(r"main-api-config-[a-z0-9]{10}", name)
    ]
    assert config["GIT_SHA"] == TAG
    assert config["APP_VERSION"] == "1.2.3"
    assert config["AUX_SERVICE_URL"] == "http://aux-service:8080", "base values must survive"


def test_versions_default_to_what_the_image_build_labels(tree: Path) -> None:
    """APP_VERSION from the service's pyproject at the tag, BUILD_TIME as lib.sh's created_of."""
    head = git("rev-parse", "HEAD", cwd=REPO_ROOT).strip()
    result = _promote(tree, "--service", "aux-service", "--tag", head)
    assert result.returncode == 0, output_of(result)
    data = yaml.safe_load((tree / EKS / "aux-service/version.yaml").read_text())["data"]
    pyproject = git("show", f"{head}:services/aux-service/pyproject.toml", cwd=REPO_ROOT)
    assert data["APP_VERSION"] == promote.tomllib.loads(pyproject)["project"]["version"]
    created = run(
        ["bash", "-c", 'source scripts/images/lib.sh && created_of "$1"', "created_of", head]
    )
    assert created.returncode == 0, output_of(created)
    assert data["BUILD_TIME"] == created.stdout.strip()
    assert data["GIT_SHA"] == head


def test_a_tag_yaml_would_read_as_a_number_is_written_as_a_string(tree: Path) -> None:
    digits = "1234567890" * 4
    kustomization = tree / EKS / "main-api/kustomization.yaml"
    result = _promote(
        tree, "--service", "main-api", "--tag", digits, "--app-version", "1.0", *BUILT
    )
    assert result.returncode == 0, output_of(result)
    assert f'newTag: "{digits}"' in kustomization.read_text()
    assert _flat(kustomization)["images[0].newTag"] == digits


@pytest.mark.parametrize(
    "args",
    [
        ["--service", "main-api", "--tag", "dev"],
        ["--service", "main-api", "--tag", TAG.upper()],
        ["--service", "main-api", "--tag", TAG[:12]],
        ["--service", "web", "--tag", TAG],
        ["--service", "main-api", "--tag", TAG, "--build-time", "yesterday"],
        ["--service", "main-api", "--tag", TAG, "--app-version", "1.0; rm -rf /"],
        ["--service", "main-api", "--tag", TAG, "--digest", "sha256:" + "AB" * 32],
        ["--service", "main-api", "--tag", TAG, "--digest", DIGEST[:-1]],
        ["--service", "main-api", "--tag", TAG, "--digest", TAG],
    ],
    ids=[
        "not-a-sha",
        "upper-case",
        "short-sha",
        "unknown-service",
        "bad-time",
        "bad-version",
        "digest-upper-case",
        "digest-short",
        "digest-is-a-tag",
    ],
)
def test_refuses_bad_input_and_writes_nothing(tree: Path, args: list[str]) -> None:
    before = _snapshot(tree)
    result = _promote(tree, *args)
    assert result.returncode == 2, output_of(result)
    assert _snapshot(tree) == before


def test_refuses_an_overlay_without_the_field_and_writes_nothing(tree: Path) -> None:
    version = tree / EKS / "main-api/version.yaml"
    version.write_text(version.read_text().replace("  BUILD_TIME:", "  BUILT_AT:"))
    before = _snapshot(tree)
    result = _promote(tree, "--service", "main-api", "--tag", TAG, "--app-version", "1.0", *BUILT)
    assert result.returncode == 2, output_of(result)
    assert "data.BUILD_TIME" in result.stderr
    assert _snapshot(tree) == before, "the kustomization was written although version.yaml failed"


def test_refuses_an_ambiguous_images_entry(tree: Path) -> None:
    kustomization = tree / EKS / "main-api/kustomization.yaml"
    text = kustomization.read_text()
    start = text.index("  - name: kontaxa/main-api")
    end = min(text.index(key, start) for key in ("\n#", "\nreplacements:", "\npatches:")) + 1
    entry = text[start:end]
    kustomization.write_text(text.replace(entry, entry + entry))
    result = _promote(tree, "--service", "main-api", "--tag", TAG, "--app-version", "1.0", *BUILT)
    assert result.returncode == 2, output_of(result)
    assert "expected one images entry" in result.stderr


def test_the_self_check_rejects_any_other_change() -> None:
    before = "data:\n  GIT_SHA: a\n  OTHER: x\n"
    with pytest.raises(promote.PromotionError, match="unexpected changes"):
        promote._check_only_intended(before, before.replace("x", "y"), {}, "file")
    with pytest.raises(promote.PromotionError, match="wrong values"):
        promote._check_only_intended(before, before, {"data.GIT_SHA": "b"}, "file")
    promote._check_only_intended(before, before.replace(": a", ": b"), {"data.GIT_SHA": "b"}, "f")


def test_a_commit_missing_from_the_clone_is_explained(tree: Path) -> None:
    result = _promote(tree, "--service", "main-api", "--tag", TAG)
    assert result.returncode == 2, output_of(result)
    assert "fetch-depth: 0" in result.stderr


def test_a_promotion_without_a_digest_is_refused(tree: Path) -> None:
    """Promotion by tag alone would ship whatever the tag names, not what was tested."""
    before = _snapshot(tree)
    result = run(
        [sys.executable, PROMOTE, "--overlay", tree / EKS, "--service", "main-api", "--tag", TAG]
    )
    assert result.returncode == 2, output_of(result)
    assert "--digest" in result.stderr
    assert _snapshot(tree) == before


def test_the_committed_eks_overlay_pins_every_service_by_digest(kubectl: str) -> None:
    rendered = run([kubectl, "kustomize", REPO_ROOT / EKS])
    assert rendered.returncode == 0, output_of(rendered)
    for item in yaml.safe_load_all(rendered.stdout):
        if item and item["kind"] == "Deployment":
            for container in item["spec"]["template"]["spec"]["containers"]:
                assert promote.DIGEST.match(container["image"].rpartition("@")[2]), container
