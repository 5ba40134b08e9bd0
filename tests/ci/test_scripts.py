"""The scripts behind the publish, e2e-diagnostics and plan steps, in their dry-run and test
forms: stand-ins for aws, docker, kind and kubectl record what the scripts ask of them.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, fake_command, output_of, run

SHA = "0123456789abcdef0123456789abcdef01234567"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PUBLISH = REPO_ROOT / "scripts/ci/publish-image.sh"
SAVE = REPO_ROOT / "scripts/ci/save-tested-image.sh"
DIGEST = "sha256:" + "ef" * 32
IMAGE_ID = "sha256:" + "12" * 32
DIAGNOSTICS = REPO_ROOT / "scripts/ci/kind-diagnostics.sh"
PLAN = REPO_ROOT / "scripts/ci/terraform-plan.sh"


def _base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "GITHUB_", "IMAGE_", "ECR_", "DRY_RUN", "TF_", "DOCKER"))
    }
    env.update(extra)
    return env


@dataclass
class Tools:
    """Stand-in aws and docker CLIs that log each call, one line of argv each."""

    log: Path
    env: dict[str, str]

    def calls(self) -> list[list[str]]:
        """Every recorded call, as argv (the first item names the tool)."""
        if not self.log.exists():
            return []
        return [shlex.split(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    log = tmp_path / "calls.log"
    # One write per call: the two ends of a pipe (`aws ... | docker login`) run at once, and
    # two writes each would interleave their lines.
    record = f'line=$(printf "%q " "$(basename "$0")" "$@"); echo "$line" >>{log}\n'
    bin_dir = tmp_path / "bin"
    # aws: the account, how many images carry the tag ($IMAGES_IN_ECR, default 0; 1 for the tags
    # named in $TAGS_IN_ECR), its digest.
    fake_command(
        bin_dir,
        "aws",
        record
        + """
case "$1 $2" in
  "sts get-caller-identity") echo 123456789012 ;;
  "ecr batch-get-image")
    case "$*" in
      *"length(images)"*)
        count="${IMAGES_IN_ECR:-0}"
        for tag in ${TAGS_IN_ECR:-}; do
          for arg in "$@"; do [ "$arg" = "imageTag=$tag" ] && count=1; done
        done
        echo "$count" ;;
      *imageDigest*) echo "${ECR_DIGEST-$FAKE_DIGEST}" ;;
    esac ;;
  "ecr get-login-password") echo not-a-password ;;
esac
""",
    )
    # docker login reads the password from its stdin; `image inspect` reports $LOCAL_ID;
    # `save` writes a stand-in archive.
    docker = fake_command(
        bin_dir,
        "docker",
        record
        + """
case "$1" in
  login) cat >/dev/null ;;
  image) echo "${LOCAL_ID-$FAKE_IMAGE_ID}" ;;
  save) echo archive ;;
esac
""",
    )
    env = _base_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        DOCKER=str(docker),
        AWS_REGION="us-east-1",
        GITHUB_SHA=SHA,
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
        BASE_IMAGE="python:3.11-slim-bookworm",
        FAKE_DIGEST=DIGEST,
        FAKE_IMAGE_ID=IMAGE_ID,
    )
    return Tools(log, env)


def _pushes(tools: Tools) -> list[str]:
    return [call[2] for call in tools.calls() if call[:2] == ["docker", "push"]]


def test_publish_builds_on_the_golden_image_and_pushes_the_commit_tag(tools: Tools) -> None:
    result = run([PUBLISH, "main-api"], env=tools.env)
    assert result.returncode == 0, output_of(result)
    calls = tools.calls()
    builds = [call for call in calls if call[:2] == ["docker", "build"]]
    tags = [call[call.index("-t") + 1] for call in builds]
    assert tags == [
        f"kontox-goldenimage:{SHA}-builder",
        f"kontox-goldenimage:{SHA}",
        f"kontaxa/main-api:{SHA}",
    ]
    assert f"GOLDEN_IMAGE=kontox-goldenimage:{SHA}" in builds[-1]
    login = next(call for call in calls if call[:2] == ["docker", "login"])
    assert login[-2:] == ["--password-stdin", REGISTRY]
    assert _pushes(tools) == [f"{REGISTRY}/kontaxa/main-api:{SHA}"]
    assert (Path(tools.env["GITHUB_OUTPUT"])).read_text() == f"tag={SHA}\ndigest={DIGEST}\n"
    assert (
        f"{REGISTRY}/kontaxa/main-api:{SHA}" in Path(tools.env["GITHUB_STEP_SUMMARY"]).read_text()
    )


def test_publish_leaves_a_tag_already_in_ecr_alone(tools: Tools) -> None:
    """The repositories are immutable: a re-run must not build or push again."""
    result = run([PUBLISH, "aux-service"], env={**tools.env, "IMAGES_IN_ECR": "1"})
    assert result.returncode == 0, output_of(result)
    assert "already in ECR" in result.stderr
    assert [call[0] for call in tools.calls()] == ["aws", "aws", "aws"]
    check = tools.calls()[1]
    assert check[:3] == ["aws", "ecr", "batch-get-image"]
    assert f"imageTag={SHA}" in check
    # The digest of what is there is still reported: promotion pins it.
    lookup = tools.calls()[2]
    assert lookup[:3] == ["aws", "ecr", "batch-get-image"]
    assert lookup[lookup.index("--query") + 1] == "images[0].imageId.imageDigest"
    assert f"digest={DIGEST}" in Path(tools.env["GITHUB_OUTPUT"]).read_text()


def test_publish_golden_gets_a_dated_tag_and_its_builder_stage(tools: Tools) -> None:
    result = run([PUBLISH, "golden"], env=tools.env)
    assert result.returncode == 0, output_of(result)
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    assert _pushes(tools) == [
        f"{REGISTRY}/kontox-goldenimage:{SHA}-{today}",
        f"{REGISTRY}/kontox-goldenimage:{SHA}-{today}-builder",
    ]


@pytest.mark.parametrize("there", ["main", "builder"])
def test_publish_golden_pushes_the_one_of_its_two_tags_a_died_run_left_out(
    tools: Tools, there: str
) -> None:
    """A run that died between the two pushes left one tag: a re-run pushes the other (the
    repositories are immutable, so pushing the one there again would fail)."""
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    tags = {"main": f"{SHA}-{today}", "builder": f"{SHA}-{today}-builder"}
    result = run([PUBLISH, "golden"], env={**tools.env, "TAGS_IN_ECR": tags[there]})
    assert result.returncode == 0, output_of(result)
    assert f"kontox-goldenimage:{tags[there]} is already in ECR" in result.stderr
    missing = tags["builder" if there == "main" else "main"]
    assert _pushes(tools) == [f"{REGISTRY}/kontox-goldenimage:{missing}"]


@pytest.mark.parametrize(
    ("argv", "extra", "message"),
    [
        (["web"], {}, "usage"),
        ([], {}, "usage"),
        (["main-api"], {"IMAGE_TAG": "latest"}, "IMAGE_TAG"),
        (["main-api"], {"AWS_REGION": ""}, "AWS_REGION"),
    ],
    ids=["unknown-image", "no-image", "mutable-tag", "no-region"],
)
def test_publish_refuses_bad_input(
    tools: Tools, argv: list[str], extra: dict[str, str], message: str
) -> None:
    result = run([PUBLISH, *argv], env={**tools.env, **extra})
    assert result.returncode == 1, output_of(result)
    assert message in result.stderr
    assert tools.calls() == []


def test_publish_dry_run_prints_every_command(tools: Tools) -> None:
    result = run([PUBLISH, "main-api"], env={**tools.env, "DRY_RUN": "1"})
    assert result.returncode == 0, output_of(result)
    assert tools.calls() == []
    out = result.stdout
    assert "aws sts get-caller-identity" in out
    assert f"kontaxa/main-api:{SHA}" in out
    assert f"docker push ACCOUNT.dkr.ecr.us-east-1.amazonaws.com/kontaxa/main-api:{SHA}" in out


@pytest.fixture
def tested(tmp_path: Path) -> Path:
    """What save-tested-image.sh leaves for the publish job."""
    directory = tmp_path / "tested-image"
    directory.mkdir()
    (directory / "main-api.tar.gz").write_bytes(b"archive")
    (directory / "main-api.id").write_text(IMAGE_ID + "\n")
    return directory


def test_publish_pushes_the_tested_image_without_building(tools: Tools, tested: Path) -> None:
    """Build once: the image the kind e2e ran is loaded, checked by ID, tagged and pushed."""
    result = run([PUBLISH, "main-api"], env={**tools.env, "TESTED_IMAGE_DIR": str(tested)})
    assert result.returncode == 0, output_of(result)
    calls = tools.calls()
    assert not [call for call in calls if call[:2] == ["docker", "build"]]
    assert ["docker", "load", "--input", str(tested / "main-api.tar.gz")] in calls
    tag = next(call for call in calls if call[:2] == ["docker", "tag"])
    assert tag[2:] == ["kontaxa/main-api:dev", f"{REGISTRY}/kontaxa/main-api:{SHA}"]
    assert _pushes(tools) == [f"{REGISTRY}/kontaxa/main-api:{SHA}"]
    assert f"digest={DIGEST}" in Path(tools.env["GITHUB_OUTPUT"]).read_text()
    assert f"{SHA}@{DIGEST}" in Path(tools.env["GITHUB_STEP_SUMMARY"]).read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"LOCAL_ID": "sha256:" + "99" * 32}, "refusing to push"),
        ({"ECR_DIGEST": "None"}, "no digest"),
    ],
    ids=["another-image-loaded", "no-digest-in-ecr"],
)
def test_publish_refuses_an_image_that_is_not_the_tested_one(
    tools: Tools, tested: Path, change: dict[str, str], message: str
) -> None:
    env = {**tools.env, "TESTED_IMAGE_DIR": str(tested), **change}
    result = run([PUBLISH, "main-api"], env=env)
    assert result.returncode == 1, output_of(result)
    assert message in result.stderr
    if "LOCAL_ID" in change:
        assert _pushes(tools) == []
    assert "digest=" not in (
        Path(tools.env["GITHUB_OUTPUT"]).read_text()
        if Path(tools.env["GITHUB_OUTPUT"]).exists()
        else ""
    )


def test_publish_refuses_a_tested_image_dir_without_the_image(tools: Tools, tmp_path: Path) -> None:
    result = run([PUBLISH, "aux-service"], env={**tools.env, "TESTED_IMAGE_DIR": str(tmp_path)})
    assert result.returncode == 1, output_of(result)
    assert "save-tested-image.sh" in result.stderr
    assert _pushes(tools) == []


def test_save_tested_image_writes_the_archive_and_the_image_id(
    tools: Tools, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run([SAVE, "aux-service"], env={**tools.env, "OUT_DIR": str(out)})
    assert result.returncode == 0, output_of(result)
    assert (out / "aux-service.id").read_text().strip() == IMAGE_ID
    assert (out / "aux-service.tar.gz").stat().st_size > 0
    assert ["docker", "save", "kontaxa/aux-service:dev"] in tools.calls()
    bad = run([SAVE, "web"], env={**tools.env, "OUT_DIR": str(out)})
    assert bad.returncode == 1
    assert "usage" in bad.stderr


def test_kind_diagnostics_collects_and_never_fails(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    record = f'echo "$(basename "$0") $*" >>{log}\n'
    fake_command(
        bin_dir, "kind", record + 'mkdir -p "${@: -1}" && echo node-log >"${@: -1}/node.log"\n'
    )
    fake_command(bin_dir, "kubectl", record + 'echo "kubectl says no" >&2; exit 1\n')
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "kind.log").write_text("runner log\n")
    out = tmp_path / "out"
    env = _base_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        LOCAL_STATE_DIR=str(state),
        KIND_CLUSTER_NAME="kontaxa",
    )
    result = run([DIAGNOSTICS, out], env=env, timeout=300)
    assert result.returncode == 0, output_of(result)
    calls = log.read_text().splitlines()
    assert f"kind export logs --name kontaxa {out}/kind-logs" in calls
    assert "kubectl --context kind-kontaxa -n argocd get applications.argoproj.io -o yaml" in calls
    assert (out / "kind-logs" / "node.log").read_text() == "node-log\n"
    assert "kubectl says no" in (out / "argocd-applications.yaml").read_text()
    assert (out / "runner-logs" / "kind.log").read_text() == "runner log\n"
    for name in ("pods.txt", "events.txt", "local-status.txt"):
        assert (out / name).exists(), name
    assert "failed (exit 1)" in result.stderr


def test_kind_diagnostics_dry_run() -> None:
    result = run([DIAGNOSTICS, "/tmp/nowhere"], env=_base_env(DRY_RUN="1"))
    assert result.returncode == 0, output_of(result)
    assert "+ kind export logs --name kontaxa /tmp/nowhere/kind-logs" in result.stdout
    assert "applications.argoproj.io" in result.stdout
    assert not Path("/tmp/nowhere").exists()


def test_terraform_plan_dry_run_uses_the_task_target_never_refreshes_nor_locks(
    tmp_path: Path,
) -> None:
    result = run([PLAN], env=_base_env(DRY_RUN="1", PLAN_DIR=str(tmp_path / "plan")))
    assert result.returncode == 0, output_of(result)
    first = shlex.split(result.stdout.splitlines()[0])
    assert first[:4] == ["+", "./task", "tf:plan", "ENV=aws"]
    # The plan role reads no live resource (no secret value) and writes nothing.
    terraform_args = first[first.index("--") + 1 :]
    assert {"-refresh=false", "-lock=false"} <= set(terraform_args)
    assert first[first.index("--") :].count(f"-out={tmp_path}/plan/aws.tfplan") == 1
    assert any(arg.endswith("environments/aws/backend.hcl.example") for arg in first)
    assert "placeholders" in result.stderr
    assert not (tmp_path / "plan").exists()


def test_terraform_plan_writes_the_repository_variables_to_files(tmp_path: Path) -> None:
    env = _base_env(
        DRY_RUN="1",
        PLAN_DIR=str(tmp_path / "plan"),
        TF_AWS_BACKEND_HCL='bucket = "b"',
        TF_AWS_TFVARS='account_id = "123456789012"',
    )
    result = run([PLAN], env=env)
    assert result.returncode == 0, output_of(result)
    first = shlex.split(result.stdout.splitlines()[0])
    assert f"BACKEND_CONFIG={tmp_path}/plan/backend.hcl" in first
    assert f"VAR_FILE={tmp_path}/plan/terraform.tfvars" in first
