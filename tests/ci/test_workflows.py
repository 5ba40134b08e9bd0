"""The workflows follow the house rules, and pass actionlint, zizmor and yamllint.

Rules (issue 8): every action pinned by a full commit SHA with a version comment; top-level
`permissions: {}` (or `contents: read`) and grants per job; `concurrency` that cancels
superseded pull request runs; `timeout-minutes`; `persist-credentials: false`; no expression
inside a `run:` script; path filters; and every step that runs something runs a Task target
or a script of scripts/ci, so CI runs nothing a developer cannot.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO_ROOT, TASK, VENV_BIN, WORKFLOWS, oidc_subjects, output_of, run

WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yaml"))
ACTION_FILES = sorted((REPO_ROOT / ".github" / "actions").glob("*/action.yaml"))
EXPECTED_WORKFLOWS = {
    "main-api-ci-cd.yaml",
    "aux-service-ci-cd.yaml",
    "golden-image.yaml",
    "e2e-kind.yaml",
    "promote.yaml",
    "terraform.yaml",
    "checks.yaml",
    "release-tag.yaml",
}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?:#\s*(?P<comment>.*\S))?\s*$")
# The required status check runs on every pull request (see checks.yaml).
UNFILTERED_TRIGGERS = {("checks.yaml", "pull_request")}
FILTERED_EVENTS = ("push", "pull_request")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


@cache
def _workflow(path: Path) -> dict[str, Any]:
    workflows = oidc_subjects.load_workflows(path.parent)
    return workflows[path.name]


@cache
def _task_names() -> frozenset[str]:
    result = run([TASK, "--list-all", "--json"])
    assert result.returncode == 0, output_of(result)
    tasks = json.loads(result.stdout)["tasks"]
    return frozenset(
        name for task in tasks for name in [task["name"], *(task.get("aliases") or [])]
    )


def _glob_matches(pattern: str, path: str) -> bool:
    """GitHub's path filter glob: ** crosses directories, * does not."""
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


def _steps(path: Path) -> list[dict[str, Any]]:
    if path.name == "action.yaml":
        return list(yaml.safe_load(path.read_text())["runs"]["steps"])
    jobs = _workflow(path)["jobs"].values()
    return [step for job in jobs for step in job.get("steps") or []]


def test_the_workflows_are_the_ones_the_issue_asks_for_and_the_readme_indexes() -> None:
    assert {p.name for p in WORKFLOW_FILES} == EXPECTED_WORKFLOWS
    assert not list(WORKFLOWS.glob("*.yml")), "use the .yaml extension"
    readme = (WORKFLOWS / "README.md").read_text()
    for name in EXPECTED_WORKFLOWS:
        assert f"[`{name}`]({name})" in readme, f"README.md does not index {name}"


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=_ids(WORKFLOW_FILES + ACTION_FILES)
)
def test_every_action_is_pinned_by_commit_sha_with_its_version(path: Path) -> None:
    found = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        found += 1
        ref, comment = match["ref"], match["comment"]
        if ref.startswith("$/"):
            continue  # this repository at the workflow's own commit
        assert not ref.startswith("./"), f"{path.name}:{number}: use $/ for this repository"
        assert PINNED.match(ref), f"{path.name}:{number}: {ref} is not pinned by a full SHA"
        assert comment, f"{path.name}:{number}: {ref} needs its release as a comment"
        assert VERSION_COMMENT.match(comment), f"{path.name}:{number}: # {comment} is no v1.2.3"
    assert found, f"{path.name} uses no action at all?"


def test_an_action_is_pinned_to_one_commit_and_release_everywhere() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOW_FILES + ACTION_FILES:
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            if match and "@" in match["ref"]:
                action, sha = match["ref"].split("@")
                pins.setdefault(action, set()).add((sha, match["comment"] or ""))
    assert len(pins) >= 5, pins
    drifted = {action: sorted(found) for action, found in pins.items() if len(found) > 1}
    assert drifted == {}
    readme = (WORKFLOWS / "README.md").read_text()
    for action, found in pins.items():
        ((_, release),) = found
        assert re.search(rf"^\| `{re.escape(action)}` \| {re.escape(release)}\b", readme, re.M), (
            f"README.md's table of pins does not say {action} {release}"
        )


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_ids(WORKFLOW_FILES))
def test_permissions_are_empty_at_the_top_and_granted_per_job(path: Path) -> None:
    workflow = _workflow(path)
    assert workflow.get("permissions") in ({}, {"contents": "read"}), (
        f"{path.name}: top-level permissions must be {{}} or contents: read"
    )
    for job_id, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{path.name}/{job_id}: no job-level permissions"
        assert "write-all" not in str(permissions)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_ids(WORKFLOW_FILES))
def test_concurrency_cancels_superseded_pull_request_runs(path: Path) -> None:
    workflow = _workflow(path)
    concurrency = workflow.get("concurrency")
    assert isinstance(concurrency, dict), f"{path.name}: no concurrency"
    assert concurrency.get("group"), f"{path.name}: no concurrency group"
    cancel = concurrency.get("cancel-in-progress")
    if "pull_request" in workflow["on"]:
        assert cancel in (True, "${{ github.event_name == 'pull_request' }}"), (
            f"{path.name}: a new push to a pull request must cancel its running checks"
        )
        assert "github.event.pull_request.number" in concurrency["group"], (
            f"{path.name}: pull requests need a group of their own"
        )
    else:
        assert cancel is False, f"{path.name}: say cancel-in-progress: false explicitly"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_ids(WORKFLOW_FILES))
def test_every_job_has_a_timeout(path: Path) -> None:
    for job_id, job in _workflow(path)["jobs"].items():
        if "uses" in job:
            # A call of a reusable workflow cannot set one; the called jobs do (checked there).
            assert oidc_subjects._called_file(job["uses"]), f"{path.name}/{job_id}: remote call"
            continue
        timeout = job.get("timeout-minutes")
        assert isinstance(timeout, int), f"{path.name}/{job_id}: no timeout-minutes"
        assert 0 < timeout <= 60, f"{path.name}/{job_id}: timeout {timeout} min"


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=_ids(WORKFLOW_FILES + ACTION_FILES)
)
def test_checkouts_keep_no_credentials(path: Path) -> None:
    for step in _steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, (
                f"{path.name}: checkout step {step.get('name')} keeps the token in .git/config"
            )


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=_ids(WORKFLOW_FILES + ACTION_FILES)
)
def test_run_scripts_hold_no_expressions_and_call_task_or_scripts_ci(path: Path) -> None:
    """Values reach scripts through env:, never spliced into the script text."""
    for step in _steps(path):
        script = step.get("run")
        if script is None:
            continue
        where = f"{path.name}: step {step.get('name')!r}"
        assert "${{" not in script, f"{where}: an expression inside run:"
        assert "\n" not in script.strip(), f"{where}: one command per step"
        argv = shlex.split(script)
        if argv[0] == "./task":
            assert argv[1] in _task_names(), f"{where}: no Task target {argv[1]}"
        else:
            assert argv[0].startswith("scripts/ci/"), f"{where}: run a Task target or scripts/ci"
            assert (REPO_ROOT / argv[0]).is_file(), f"{where}: {argv[0]} does not exist"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_ids(WORKFLOW_FILES))
def test_push_and_pull_request_triggers_are_path_filtered(path: Path) -> None:
    on = _workflow(path)["on"]
    for event in FILTERED_EVENTS:
        if event not in on:
            continue
        spec = on[event] or {}
        if (path.name, event) in UNFILTERED_TRIGGERS:
            assert "paths" not in spec, f"{path.name}: {event} is meant to run on every change"
            continue
        paths = spec.get("paths") or []
        assert paths, f"{path.name}: {event} has no path filter"
        assert any(_glob_matches(p, f".github/workflows/{path.name}") for p in paths), (
            f"{path.name}: a change to the workflow itself must trigger it"
        )
        for pattern in paths:
            literal = pattern.lstrip("!").split("*")[0].rstrip("/")
            assert not literal or (REPO_ROOT / literal).exists(), (
                f"{path.name}: path filter {pattern} names nothing in the repository"
            )
    if "push" in on:
        assert (on["push"] or {}).get("branches") == ["main"], f"{path.name}: push is main only"


def test_the_reusable_workflows_are_called_with_what_they_need() -> None:
    workflows = oidc_subjects.load_workflows()
    calls = 0
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            called = oidc_subjects._called_file(job.get("uses"))
            if called is None:
                continue
            calls += 1
            target = workflows[called]
            assert "workflow_call" in target["on"], f"{called} cannot be called"
            granted = job.get("permissions") or {}
            for called_job in target["jobs"].values():
                for scope, level in (called_job.get("permissions") or {}).items():
                    assert level == "read" or granted.get(scope) == level, (
                        f"{name}/{job_id} calls {called} without {scope}: {level}"
                    )
            inputs = (target["on"]["workflow_call"] or {}).get("inputs") or {}
            required = {key for key, spec in inputs.items() if spec.get("required")}
            assert required <= set(job.get("with") or {}), f"{name}/{job_id}: missing inputs"
    assert calls == 4, "both service pipelines call e2e-kind and promote"


@pytest.mark.parametrize("service", ["main-api", "aux-service"])
def test_what_is_promoted_is_the_image_the_kind_e2e_ran(service: str) -> None:
    """Build once: e2e-kind builds and runs the images, saves the service's as an artifact after
    the suite passed; publish (needs e2e) pushes that artifact, never builds, and outputs ECR's
    digest; promote (needs publish) pins that digest."""
    jobs = _workflow(WORKFLOWS / f"{service}-ci-cd.yaml")["jobs"]
    e2e, publish, promote = jobs["e2e"], jobs["publish"], jobs["promote"]
    assert e2e["uses"].endswith("/e2e-kind.yaml")
    assert e2e["with"] == {"save-image": service}
    assert publish["needs"] == "e2e"
    assert promote["needs"] == "publish"
    download = next(
        s for s in publish["steps"] if str(s.get("uses", "")).startswith("actions/download-")
    )
    push = next(s for s in publish["steps"] if s.get("id") == "push")
    assert push["run"] == f"./task ci:publish IMAGE={service}"
    assert push["env"]["TESTED_IMAGE_DIR"] == download["with"]["path"]
    assert download["with"]["name"] == f"tested-image-{service}"
    assert publish["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    assert promote["with"]["digest"] == "${{ needs.publish.outputs.digest }}"
    assert "fetch-depth" not in str(publish["steps"]), "publish builds nothing: no history needed"

    kind = _workflow(WORKFLOWS / "e2e-kind.yaml")["jobs"]["kind"]
    names = [step.get("name", "") for step in kind["steps"]]
    save = next(i for i, n in enumerate(names) if n.startswith("Save the tested image"))
    upload = kind["steps"][save + 1]
    assert save > names.index("e2e suite (task e2e -- --target kind)"), "save after the suite"
    assert upload["if"] == kind["steps"][save]["if"] == "inputs.save-image != ''"
    assert upload["with"]["name"] == "tested-image-${{ inputs.save-image }}"
    assert upload["with"]["path"] == download["with"]["path"]
    assert "id-token" not in (kind.get("permissions") or {}), "the e2e job holds no AWS role"

    promotion = _workflow(WORKFLOWS / "promote.yaml")
    assert promotion["on"]["workflow_call"]["inputs"]["digest"]["required"] is True
    bump = next(
        s for s in promotion["jobs"]["pull-request"]["steps"] if s.get("run") == "./task ci:promote"
    )
    assert bump["env"]["DIGEST"] == "${{ inputs.digest }}"


def test_no_workflow_token_writes_and_the_promotion_pushes_only_its_branch() -> None:
    """GITHUB_TOKEN writes nothing anywhere (beyond id-token); the promotion writes with its
    GitHub App token (test_the_promotion_uses_a_github_app_token), to its own branch only."""
    for path in WORKFLOW_FILES:
        for job_id, job in _workflow(path)["jobs"].items():
            writes = {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
            writes.discard("id-token")
            assert not writes, f"{path.name}/{job_id}: GITHUB_TOKEN writes {writes}"
    promotion = (REPO_ROOT / "scripts/ci/promotion-pr.sh").read_text()
    pushes = [line.strip() for line in promotion.splitlines() if re.search(r"\bpush\b.*--", line)]
    assert pushes == [
        'run git "${push_config[@]}" push "$REMOTE" --delete "$branch"',
        'run git "${push_config[@]}" push --force "$REMOTE" "HEAD:refs/heads/$branch"',
    ]
    assert re.search(r'^branch="promote/eks-\$SERVICE"$', promotion, re.M)


# The inputs of actions/create-github-app-token at the pinned release, v3.1.1 (commit
# 1b10c78c7865c340bc4f6099eb2f838309f1e8c3), action.yml: `client-id` (`app-id` is deprecated),
# `private-key`, one `permission-<name>` per GitHub App permission (README: without any, the
# token carries every permission of the installation), and the output `token`.
APP_TOKEN_ACTION = "actions/create-github-app-token"
APP_TOKEN_INPUTS = {"client-id", "private-key", "permission-contents", "permission-pull-requests"}


def test_the_promotion_uses_a_github_app_token() -> None:
    """The promotion pull request starts its checks: GitHub starts no workflow run for events
    made with GITHUB_TOKEN (docs.github.com, "Triggering a workflow from a workflow"), so the
    push and the pull request use a GitHub App installation token, limited to contents and
    pull requests of this repository, whose key lives in the `promotion` environment."""
    (job,) = _workflow(WORKFLOWS / "promote.yaml")["jobs"].values()
    assert job["environment"] == "promotion"
    assert job["permissions"] == {"contents": "read"}
    minting = [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{APP_TOKEN_ACTION}@")]
    assert len(minting) == 1, "one App token, minted in the job that uses it"
    (step,) = minting
    assert set(step["with"]) == APP_TOKEN_INPUTS
    assert step["with"]["client-id"] == "${{ vars.PROMOTION_APP_CLIENT_ID }}"
    assert step["with"]["private-key"] == "${{ secrets.PROMOTION_APP_PRIVATE_KEY }}"
    assert step["with"]["permission-contents"] == "write"
    assert step["with"]["permission-pull-requests"] == "write"
    after = job["steps"][job["steps"].index(step) + 1 :]
    (pull_request,) = [s for s in after if s.get("run") == "./task ci:promotion-pr"]
    assert pull_request["env"]["GH_TOKEN"] == f"${{{{ steps.{step['id']}.outputs.token }}}}"
    text = (WORKFLOWS / "promote.yaml").read_text()
    assert "github.token" not in text
    assert "secrets.GITHUB_TOKEN" not in text
    # The callers grant GITHUB_TOKEN no more than the promotion's job uses.
    for name in ("main-api-ci-cd.yaml", "aux-service-ci-cd.yaml"):
        (caller,) = [
            j
            for j in _workflow(WORKFLOWS / name)["jobs"].values()
            if str(j.get("uses", "")).endswith("/promote.yaml")
        ]
        assert caller["permissions"] == {"contents": "read"}, name


def _secrets_read(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"\bsecrets\.(\w+)", json.dumps(job))) - {"GITHUB_TOKEN"}


def test_a_called_job_gets_its_environments_secrets_from_an_inheriting_caller() -> None:
    """A reusable workflow's job that names an environment reads that environment's secrets
    only when its caller passes secrets on with `inherit`; otherwise they read empty, with no
    error (actions/runner#1490: "Environment Secrets are not available on Reusable Workflow").
    The promotion's App key is such a secret, so without it no promotion would be opened."""
    checked = 0
    for path in WORKFLOW_FILES:
        called = _workflow(path)
        if "workflow_call" not in called["on"]:
            continue
        if not any(j.get("environment") and _secrets_read(j) for j in called["jobs"].values()):
            continue
        for caller_path in WORKFLOW_FILES:
            for job_id, job in _workflow(caller_path)["jobs"].items():
                if oidc_subjects._called_file(job.get("uses")) == path.name:
                    checked += 1
                    assert job.get("secrets") == "inherit", (
                        f"{caller_path.name}/{job_id} calls {path.name} without secrets: inherit"
                    )
    assert checked == 2, "both service pipelines call promote.yaml"


def test_the_required_check_reports_on_every_pull_request() -> None:
    """docs/cicd.md tells maintainers which status check to require. GitHub reports a job's
    check under its `name`, and a required check that never reports leaves the pull request
    pending ("Handling skipped but required checks"), so the check is a job that runs on every
    pull request: no path or branch filter, no `if:`, not a reusable workflow's call."""
    setup = (REPO_ROOT / "docs/cicd.md").read_text()
    (required,) = re.findall(r"require the status check `([^`]+)`", setup)
    found = [
        (path, job)
        for path in WORKFLOW_FILES
        for job_id, job in _workflow(path)["jobs"].items()
        if job.get("name", job_id) == required
    ]
    assert len(found) == 1, f"one job reports the check {required!r}: {found}"
    ((path, job),) = found
    pull_request = _workflow(path)["on"].get("pull_request", False)
    assert pull_request is None or pull_request == {}, (
        f"{path.name}: pull_request must have no filter ({pull_request})"
    )
    assert "if" not in job
    assert "uses" not in job


# Workflows each of whose runs must finish: a concurrency group keeps one pending run, and a
# newer run cancels the pending one (docs.github.com, "Control the concurrency of workflows
# and jobs"), so their group is one commit's.
EVERY_RUN_MATTERS = {"release-tag.yaml"}


@pytest.mark.parametrize("name", sorted(EVERY_RUN_MATTERS))
def test_a_workflow_whose_every_run_matters_has_a_group_per_commit(name: str) -> None:
    group = _workflow(WORKFLOWS / name)["concurrency"]["group"]
    assert "github.sha" in group, f"{name}: a later run would cancel a pending one ({group})"


@pytest.mark.parametrize("name", ["main-api-ci-cd.yaml", "aux-service-ci-cd.yaml"])
def test_a_service_pipeline_run_by_hand_on_main_publishes_and_promotes(name: str) -> None:
    """The commit that writes Terraform's outputs changes no service path, so the first
    images come from a run by hand (docs/deployment-guide.md, step 5): on main it runs every
    job a push does, and on another branch none that publishes."""
    analysis = oidc_subjects.Analysis(oidc_subjects.load_workflows(WORKFLOWS))
    main = oidc_subjects.Context("workflow_dispatch", "refs/heads/main")
    other = oidc_subjects.Context("workflow_dispatch", f"refs/heads/{oidc_subjects.OTHER_BRANCH}")
    push = oidc_subjects.Context("push", "refs/heads/main")
    for job_id in _workflow(WORKFLOWS / name)["jobs"]:
        contexts = analysis.job_contexts(name, job_id)
        assert (main in contexts) == (push in contexts), f"{name}/{job_id}"
        if job_id != "checks":
            assert other not in contexts, f"{name}/{job_id} runs for a dispatch off main"
    assert main in analysis.job_contexts(name, "promote")


# ---- the static checkers -----------------------------------------------------------------------
def _task(target: str) -> None:
    result = run([TASK, target], timeout=600)
    assert result.returncode == 0, output_of(result)


def test_actionlint_finds_nothing() -> None:
    _task("ci:actionlint")


def test_zizmor_finds_nothing() -> None:
    _task("ci:zizmor")


def test_yamllint_passes_on_all_yaml() -> None:
    _task("ci:yamllint")


def test_shellcheck_passes_on_the_ci_scripts() -> None:
    _task("ci:shellcheck")


BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}" && echo ${{ vars.NOT_A_VARIABLE }}
"""


def test_the_checkers_do_fail_on_a_bad_workflow(tmp_path: Path) -> None:
    """The same commands flag injection, unpinned actions, unknown variables and bad YAML."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yaml").write_text(BAD_WORKFLOW)
    actionlint = run(
        [
            VENV_BIN / "actionlint",
            "-config-file",
            REPO_ROOT / "scripts/ci/actionlint.yaml",
            "-pyflakes=",
            "-shellcheck=",
            workflows / "bad.yaml",
        ],
        cwd=tmp_path,
    )
    assert actionlint.returncode == 1, output_of(actionlint)
    assert "NOT_A_VARIABLE" in actionlint.stdout
    zizmor = run(
        [
            VENV_BIN / "zizmor",
            "--offline",
            "--no-progress",
            "--persona",
            "pedantic",
            "--config",
            REPO_ROOT / "scripts/ci/zizmor.yaml",
            tmp_path / ".github",
        ]
    )
    assert zizmor.returncode != 0, output_of(zizmor)
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers", "artipacked"):
        assert audit in zizmor.stdout, audit
    (tmp_path / "bad.yml").write_text("key: [1,2]\nkey: 3\n")
    yamllint = run(
        [VENV_BIN / "yamllint", "--strict", "-c", REPO_ROOT / ".yamllint.yaml", tmp_path]
    )
    assert yamllint.returncode != 0, output_of(yamllint)
    assert "duplication of key" in yamllint.stdout


def test_the_root_yamllint_rules_are_those_of_infra_k8s() -> None:
    """One set of rules: a file passes or fails the same way from either config."""
    from yamllint.config import YamlLintConfig

    root = YamlLintConfig(file=str(REPO_ROOT / ".yamllint.yaml"))
    k8s = YamlLintConfig(file=str(REPO_ROOT / "infra/k8s/.yamllint.yaml"))
    assert root.rules == k8s.rules
    assert root.is_file_ignored(".venv/lib/x.yaml")
    assert not root.is_file_ignored("infra/k8s/apps/main-api/deployment.yaml")
    listed = run([VENV_BIN / "yamllint", "--list-files", "-c", REPO_ROOT / ".yamllint.yaml", "."])
    files = {Path(line).as_posix().removeprefix("./") for line in listed.stdout.split()}
    for expected in (
        ".github/workflows/promote.yaml",
        "infra/k8s/overlays/eks/kustomization.yaml",
        "Taskfile.yml",
    ):
        assert expected in files, f"yamllint skips {expected}"


def test_actionlint_knows_every_repository_variable_the_docs_list() -> None:
    config = yaml.safe_load((REPO_ROOT / "scripts/ci/actionlint.yaml").read_text())
    variables = set(config["config-variables"])
    used = {
        match
        for path in WORKFLOW_FILES
        for match in re.findall(r"vars\.([A-Z0-9_]+)", path.read_text())
    }
    assert used == variables, "scripts/ci/actionlint.yaml lists variables no workflow reads"
    oidc_doc = (REPO_ROOT / "docs/oidc.md").read_text()
    for name in variables:
        assert f"`{name}`" in oidc_doc, f"docs/oidc.md does not say how to set {name}"


DOCS = [
    REPO_ROOT / "docs" / "cicd.md",
    REPO_ROOT / "docs" / "oidc.md",
    WORKFLOWS / "README.md",
    REPO_ROOT / "scripts" / "ci" / "README.md",
]
TOP_LEVEL = ("infra/", "scripts/", "services/", "local/", "e2e/", "docs/", "tests/", ".github/")


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_docs_name_only_files_that_exist(doc: Path) -> None:
    text = doc.read_text()
    links = [
        target.split("#")[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not target.startswith(("http://", "https://", "#"))
    ]
    for link in links:
        assert (doc.parent / link).exists(), f"{doc.name} links to {link}, which does not exist"
    paths = [
        token.rstrip("/")
        for token in re.findall(r"`([\w./-]+)`", text)
        if token.startswith(TOP_LEVEL) and "/" in token
    ]
    assert links or paths
    for path in paths:
        assert (REPO_ROOT / path).exists(), f"{doc.name} names {path}, which does not exist"


def test_e2e_runs_the_laptop_commands_and_their_dry_run_forms_work_here(tmp_path: Path) -> None:
    """The e2e job is `task local-up` on the kind runtime and `task e2e -- --target kind`."""
    job = _workflow(WORKFLOWS / "e2e-kind.yaml")["jobs"]["kind"]
    assert job["env"] == {"LOCAL_RUNTIME": "kind"}
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands == [
        "./task local-up",
        "./task e2e -- --target kind",
        './task ci:save-tested-image IMAGE="$IMAGE"',
        "./task ci:kind-diagnostics",
    ]
    kind = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("helm/kind-action@"))
    settings = (REPO_ROOT / "local/src/kontaxa_local/settings.py").read_text()
    assert f"(kind {kind['with']['version']})" in settings, (
        "install the kind release the runner's pinned node image is built for"
    )
    env = {"LOCAL_RUNTIME": "kind", "LOCAL_STATE_DIR": str(tmp_path / "state")}
    plan = run([TASK, "local-up", "--", "--dry-run"], env={**_environ(), **env})
    assert plan.returncode == 0, output_of(plan)
    assert "kind create cluster --name kontaxa" in plan.stdout + plan.stderr
    collected = run([TASK, "e2e", "--", "--target", "kind", "--collect-only", "-q"])
    assert collected.returncode == 0, output_of(collected)
    assert re.search(r"^\d+ tests? collected", collected.stdout, re.M)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_")}
