"""scripts/ci/promotion-pr.sh: the promotion pull request, opened or updated, never main.

Each test runs the script in a throwaway repository whose `origin` is a local bare
repository, with a stand-in `gh` that records its calls, so every git operation is real.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, fake_command, git, output_of, run

TAG = "0123456789abcdef0123456789abcdef01234567"
OVERLAY = "infra/k8s/overlays/eks/main-api"
BRANCH = "promote/eks-main-api"


@dataclass
class Checkout:
    """A clone of a repository with the promotion scripts, as CI checks it out."""

    work: Path
    origin: Path
    gh_log: Path
    env: dict[str, str]

    def promote(self) -> None:
        """Bump main-api's overlay the way the workflow's previous step does."""
        result = run(
            [
                sys.executable,
                self.work / "scripts/ci/promote.py",
                "--service",
                "main-api",
                "--tag",
                TAG,
                "--digest",
                "sha256:" + "cd" * 32,
                "--app-version",
                "1.0.0",
                "--build-time",
                "2030-01-02T03:04:05Z",
            ],
            cwd=self.work,
        )
        assert result.returncode == 0, output_of(result)

    def promotion_pr(self, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run the script under test."""
        return run(["scripts/ci/promotion-pr.sh"], cwd=self.work, env={**self.env, **extra})

    def gh_calls(self) -> list[dict[str, object]]:
        """Each call of the stand-in gh: its arguments and the body file it was given."""
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    seed = tmp_path / "seed"
    for relative in ("scripts/ci/promotion-pr.sh", "scripts/ci/promote.py"):
        (seed / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, seed / relative)
    shutil.copytree(REPO_ROOT / "infra/k8s/overlays/eks", seed / "infra/k8s/overlays/eks")
    (seed / "README.md").write_text("seed\n")
    git("init", "--quiet", "--initial-branch=main", cwd=seed)
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    origin = tmp_path / "origin.git"
    git("clone", "--quiet", "--bare", seed, origin, cwd=tmp_path)
    _refuse_workflow_changes_like_github(origin)
    work = tmp_path / "work"
    git("clone", "--quiet", origin, work, cwd=tmp_path)

    gh_log = tmp_path / "gh.log"
    # Records argv and any --body-file content; `pr list` prints $FAKE_EXISTING_PR.
    gh = fake_command(
        tmp_path / "bin",
        "gh",
        f"""
body=""
args=("$@")
for ((i = 0; i < ${{#args[@]}}; i++)); do
  if [[ "${{args[$i]}}" == --body-file ]]; then body="$(cat "${{args[$((i + 1))]}}")"; fi
done
python3 -c 'import json, sys; print(json.dumps({{"argv": sys.argv[2:], "body": sys.argv[1]}}))' \\
  "$body" "$@" >>{gh_log}
if [[ "$1 $2" == "pr list" ]]; then echo "${{FAKE_EXISTING_PR:-}}"; fi
""",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_", "DRY_RUN"))}
    env.update(
        {
            "GH": str(gh),
            "SERVICE": "main-api",
            "TAG": TAG,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kontaxa/kontaxa",
            "GITHUB_RUN_ID": "42",
        }
    )
    return Checkout(work, origin, gh_log, env)


# GitHub's rule for a push by an App without the `workflows` permission, as it behaves
# (observed, not documented: peter-evans/create-pull-request#1234 and Dynatrace's
# dynatrace-operator#4107, a create-pull-request branch re-pushed after a workflow changed on
# main; Mergifyio/mergify#5055 and chdsbd/kodiak#853, a branch updated from main): an update
# of a ref is refused when it brings a change under .github/workflows/, a new ref when one of
# its commits new to the repository changes a workflow. The promotion App pushes only
# promote/*; the hook leaves main to the people who push there.
_GITHUB_WORKFLOWS_RULE = """#!/usr/bin/env bash
ref="$1" old="$2" new="$3" zero=0000000000000000000000000000000000000000
[[ "$ref" == refs/heads/promote/* && "$new" != "$zero" ]] || exit 0
if [[ "$old" == "$zero" ]]; then
  touched="$(git rev-list "$new" --not --branches -- .github/workflows)"
else
  touched="$(git rev-list "$old..$new" -- .github/workflows)"
  touched+="$(git diff --name-only "$old" "$new" -- .github/workflows)"
fi
if [[ -n "$touched" ]]; then
  echo "refusing to allow a GitHub App to create or update workflow" \
    "without workflows permission" >&2
  exit 1
fi
"""


def _refuse_workflow_changes_like_github(origin: Path) -> None:
    hook = origin / "hooks" / "update"
    hook.write_text(_GITHUB_WORKFLOWS_RULE)
    hook.chmod(0o755)


def _change_a_workflow_on_main(checkout: Checkout) -> None:
    """A person merges a workflow change to main (an action pin bumped, say)."""
    git("checkout", "--quiet", "--force", "main", cwd=checkout.work)
    workflow = checkout.work / ".github/workflows/checks.yaml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(f"name: checks # {len(git('log', '--oneline', cwd=checkout.work))}\n")
    git("add", ".github", cwd=checkout.work)
    git("commit", "--quiet", "-m", "bump an action pin", cwd=checkout.work)
    git("push", "--quiet", "origin", "main", cwd=checkout.work)


def _branches(origin: Path) -> dict[str, str]:
    lines = git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", cwd=origin)
    return dict(line.split() for line in lines.splitlines())


def test_opens_a_pull_request_from_a_promotion_branch_and_leaves_main_alone(
    checkout: Checkout,
) -> None:
    main_before = _branches(checkout.origin)["main"]
    checkout.promote()
    result = checkout.promotion_pr()
    assert result.returncode == 0, output_of(result)

    branches = _branches(checkout.origin)
    assert branches["main"] == main_before, "CI pushed to main"
    assert set(branches) == {"main", BRANCH}
    # One commit on top of main, touching only the service's overlay.
    log = git("log", "--format=%s", f"main..{BRANCH}", cwd=checkout.origin).splitlines()
    assert log == ["Promote main-api 0123456789ab to EKS"]
    files = git("diff", "--name-only", "main", BRANCH, cwd=checkout.origin).split()
    assert files == [f"{OVERLAY}/kustomization.yaml", f"{OVERLAY}/version.yaml"]
    shown = git("show", f"{BRANCH}:{OVERLAY}/kustomization.yaml", cwd=checkout.origin)
    assert f"newTag: {TAG}" in shown

    calls = checkout.gh_calls()
    assert [c["argv"][:2] for c in calls] == [["pr", "list"], ["pr", "create"]]
    create = calls[1]["argv"]
    assert create[create.index("--base") + 1] == "main"
    assert create[create.index("--head") + 1] == BRANCH
    body = str(calls[1]["body"])
    assert TAG in body
    assert "https://github.example/kontaxa/kontaxa/actions/runs/42" in body
    assert "Roll back" in body
    assert f'+  GIT_SHA: "{TAG}"' in body


def test_updates_the_open_pull_request_instead_of_opening_another(checkout: Checkout) -> None:
    checkout.promote()
    result = checkout.promotion_pr(FAKE_EXISTING_PR="17")
    assert result.returncode == 0, output_of(result)
    calls = [c["argv"] for c in checkout.gh_calls()]
    assert calls[-1][:3] == ["pr", "edit", "17"]
    assert not any(call[:2] == ["pr", "create"] for call in calls)


def test_rerun_force_pushes_the_same_branch(checkout: Checkout) -> None:
    checkout.promote()
    assert checkout.promotion_pr().returncode == 0
    # The next run starts again from main, as the next workflow run does.
    git("checkout", "--quiet", "--force", "main", cwd=checkout.work)
    checkout.promote()
    result = checkout.promotion_pr(FAKE_EXISTING_PR="17")
    assert result.returncode == 0, output_of(result)
    log = git("log", "--format=%s", f"main..{BRANCH}", cwd=checkout.origin).splitlines()
    assert len(log) == 1, "the promotion branch must be rebuilt from main, not stacked"
    assert "recreating" not in result.stderr
    assert checkout.gh_calls()[-1]["argv"][:3] == ["pr", "edit", "17"]


def test_a_workflow_change_on_main_since_the_last_promotion_recreates_the_branch(
    checkout: Checkout,
) -> None:
    """Moving the branch across a workflow change would be refused (the stand-in hook), so the
    branch is deleted and pushed anew, its pull request then opened afresh."""
    checkout.promote()
    assert checkout.promotion_pr().returncode == 0
    _change_a_workflow_on_main(checkout)
    checkout.promote()
    # Its pull request, #17, is open: closed by the script, not left to GitHub's later close
    # of a deleted branch's pull request (a lookup in between would update #17).
    result = checkout.promotion_pr(FAKE_EXISTING_PR="17")
    assert result.returncode == 0, output_of(result)
    assert f"recreating {BRANCH}" in result.stderr
    branches = _branches(checkout.origin)
    assert git("rev-parse", f"{BRANCH}^", cwd=checkout.origin).strip() == branches["main"]
    files = git("diff", "--name-only", "main", BRANCH, cwd=checkout.origin).split()
    assert files == [f"{OVERLAY}/kustomization.yaml", f"{OVERLAY}/version.yaml"]
    calls = [c["argv"][:3] for c in checkout.gh_calls()]
    assert calls[2:] == [
        ["pr", "list", "--head"],
        ["pr", "close", "17"],
        ["pr", "create", "--base"],
    ]

    # A promotion after that, with no workflow change in between, moves the branch as before.
    git("checkout", "--quiet", "--force", "main", cwd=checkout.work)
    checkout.promote()
    result = checkout.promotion_pr(FAKE_EXISTING_PR="18")
    assert result.returncode == 0, output_of(result)
    assert "recreating" not in result.stderr
    assert checkout.gh_calls()[-1]["argv"][:3] == ["pr", "edit", "18"]


def test_the_stand_in_for_githubs_rule_refuses_moving_a_branch_across_a_workflow_change(
    checkout: Checkout,
) -> None:
    """The hook above is what makes the test before it mean something: a plain force push of
    the rebuilt branch, as the script made before it checked, is refused."""
    checkout.promote()
    assert checkout.promotion_pr().returncode == 0
    _change_a_workflow_on_main(checkout)
    checkout.promote()
    git("switch", "--quiet", "--force-create", BRANCH, cwd=checkout.work)
    git("commit", "--quiet", "-am", "promote", cwd=checkout.work)
    push = run(["git", "push", "--force", "origin", f"HEAD:refs/heads/{BRANCH}"], cwd=checkout.work)
    assert push.returncode != 0
    assert "without workflows permission" in push.stderr
    # Deleted first, the same commit goes in as a new branch.
    git("push", "--quiet", "origin", "--delete", BRANCH, cwd=checkout.work)
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}", cwd=checkout.work)


def test_nothing_to_promote_opens_nothing(checkout: Checkout) -> None:
    result = checkout.promotion_pr()
    assert result.returncode == 0, output_of(result)
    assert "nothing to open" in result.stderr
    assert set(_branches(checkout.origin)) == {"main"}
    assert checkout.gh_calls() == []


def test_refuses_changes_outside_the_service_overlay(checkout: Checkout) -> None:
    checkout.promote()
    (checkout.work / "README.md").write_text("changed\n")
    result = checkout.promotion_pr()
    assert result.returncode == 1, output_of(result)
    assert "README.md" in result.stderr
    assert set(_branches(checkout.origin)) == {"main"}


def test_the_token_reaches_git_through_a_helper_and_is_never_printed(checkout: Checkout) -> None:
    checkout.promote()
    token = "not-a-real-token-5f3a"
    result = checkout.promotion_pr(GH_TOKEN=token, DRY_RUN="1")
    assert result.returncode == 0, output_of(result)
    assert token not in result.stdout + result.stderr
    push = next(line for line in result.stdout.splitlines() if " push " in line)
    assert "credential.helper" in push
    # The helper git would run answers with the token from the environment.
    helper = shlex.split(push)[shlex.split(push).index("credential.helper=") + 2]
    answer = run(
        ["bash", "-c", helper.removeprefix("credential.helper=!")],
        env={**checkout.env, "GH_TOKEN": token},
    )
    assert answer.stdout.splitlines() == ["username=x-access-token", f"password={token}"]
    assert "credential.helper" not in (checkout.work / ".git" / "config").read_text()


def test_dry_run_prints_the_commands_and_changes_nothing(checkout: Checkout) -> None:
    checkout.promote()
    result = checkout.promotion_pr(DRY_RUN="1")
    assert result.returncode == 0, output_of(result)
    out = result.stdout
    assert f"+ git push --force origin HEAD:refs/heads/{BRANCH}" in out
    assert "pr create --base main --head promote/eks-main-api" in out
    assert set(_branches(checkout.origin)) == {"main"}
    assert git("branch", "--show-current", cwd=checkout.work).strip() == "main"
    assert checkout.gh_calls() == []


@pytest.mark.parametrize(
    ("service", "tag"),
    [("web", TAG), ("main-api", "dev"), ("main-api", "$(touch pwned)"), ("", TAG)],
    ids=["unknown-service", "not-a-sha", "shell-in-tag", "no-service"],
)
def test_refuses_bad_input(checkout: Checkout, service: str, tag: str) -> None:
    checkout.promote()
    result = checkout.promotion_pr(SERVICE=service, TAG=tag)
    assert result.returncode == 1, output_of(result)
    assert not (checkout.work / "pwned").exists()
    assert set(_branches(checkout.origin)) == {"main"}
