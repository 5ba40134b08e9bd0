"""scripts/ci/oidc_subjects.py: which `sub` each role-assuming job presents, and whether a
trust policy lets it in. Small workflows written here pin down each rule, GitHub's pitfalls
first; the last tests pin what the repository's own workflows present.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from .conftest import REPO_ROOT
from .conftest import oidc_subjects as oidc

REPO = "kontaxa/kontaxa"
ASSUME = {
    "name": "AWS",
    "uses": "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c",
    "with": {"role-to-assume": "${{ vars.AWS_CI_ROLE_ARN }}", "aws-region": "us-east-1"},
}


def _workflow(on: Any, **job: Any) -> dict[str, Any]:
    body = {"runs-on": "ubuntu-24.04", "permissions": {"id-token": "write"}, "steps": [ASSUME]}
    return {"on": on, "jobs": {"deploy": {**body, **job}}}


def _subjects(workflows: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    uses = oidc.Analysis(workflows, REPO).role_uses()
    return {use.label: use.subjects(REPO) for use in uses}


def test_push_to_main_presents_the_branch_ref() -> None:
    subjects = _subjects({"w.yaml": _workflow({"push": {"branches": ["main"]}})})
    assert subjects == {"w.yaml/deploy": [f"repo:{REPO}:ref:refs/heads/main"]}


def test_a_job_with_an_environment_presents_the_environment_whatever_the_event() -> None:
    """The classic pitfall: the branch trust does not cover a job with `environment:`."""
    on = {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    for environment in ("production", {"name": "production", "url": "https://example.com"}):
        subjects = _subjects({"w.yaml": _workflow(on, environment=environment)})
        assert subjects == {"w.yaml/deploy": [f"repo:{REPO}:environment:production"]}


def test_pull_requests_present_pull_request() -> None:
    subjects = _subjects({"w.yaml": _workflow({"pull_request": {"paths": ["x/**"]}})})
    assert subjects == {"w.yaml/deploy": [f"repo:{REPO}:pull_request"]}


def test_manual_runs_may_start_on_any_branch_unless_the_job_says_main() -> None:
    unguarded = _subjects({"w.yaml": _workflow({"workflow_dispatch": None})})
    assert unguarded["w.yaml/deploy"] == [
        f"repo:{REPO}:ref:refs/heads/main",
        f"repo:{REPO}:ref:refs/heads/{oidc.OTHER_BRANCH}",
    ]
    guarded = _subjects(
        {
            "w.yaml": _workflow(
                {"workflow_dispatch": None}, **{"if": "github.ref == 'refs/heads/main'"}
            )
        }
    )
    assert guarded["w.yaml/deploy"] == [f"repo:{REPO}:ref:refs/heads/main"]


def test_schedules_run_on_the_default_branch() -> None:
    subjects = _subjects({"w.yaml": _workflow({"schedule": [{"cron": "0 0 * * 1"}]})})
    assert subjects["w.yaml/deploy"] == [f"repo:{REPO}:ref:refs/heads/main"]


def test_push_without_a_branch_filter_includes_other_branches_and_tags() -> None:
    subjects = _subjects({"w.yaml": _workflow("push")})
    assert subjects["w.yaml/deploy"] == [
        f"repo:{REPO}:ref:refs/heads/main",
        f"repo:{REPO}:ref:refs/heads/{oidc.OTHER_BRANCH}",
        f"repo:{REPO}:ref:refs/tags/some-tag",
    ]


def test_conditions_leave_out_only_what_they_rule_out_for_certain() -> None:
    on = {"pull_request": None, "push": {"branches": ["main"]}}
    cases = {
        "github.event_name == 'push'": ["ref:refs/heads/main"],
        "${{ github.event_name != 'pull_request' }}": ["ref:refs/heads/main"],
        "GITHUB.EVENT_NAME == 'Push'": ["ref:refs/heads/main"],  # GitHub ignores case
        "!(github.event_name == 'push')": ["pull_request"],
        "github.event_name == 'push' || vars.X == 'y'": ["pull_request", "ref:refs/heads/main"],
        "github.event_name == 'push' && vars.X != ''": ["ref:refs/heads/main"],
        "startsWith(github.ref, 'refs/pull/')": ["pull_request"],
        "vars.ENABLED == 'true'": ["pull_request", "ref:refs/heads/main"],
        "false": [],
    }
    for condition, expected in cases.items():
        subjects = _subjects({"w.yaml": _workflow(on, **{"if": condition})})
        assert subjects["w.yaml/deploy"] == [f"repo:{REPO}:{c}" for c in expected], condition


def test_a_step_condition_narrows_too() -> None:
    step = {**ASSUME, "if": "github.event_name == 'push'"}
    workflow = _workflow({"pull_request": None, "push": {"branches": ["main"]}}, steps=[step])
    assert _subjects({"w.yaml": workflow})["w.yaml/deploy"] == [f"repo:{REPO}:ref:refs/heads/main"]


def test_a_job_after_a_skipped_job_is_skipped_unless_it_runs_always() -> None:
    on = {"pull_request": None, "push": {"branches": ["main"]}}
    workflow = _workflow(on, needs="gate")
    workflow["jobs"]["gate"] = {"if": "github.event_name == 'push'", "steps": [{"run": "true"}]}
    assert _subjects({"w.yaml": workflow})["w.yaml/deploy"] == [f"repo:{REPO}:ref:refs/heads/main"]
    workflow["jobs"]["deploy"]["if"] = "always()"
    assert _subjects({"w.yaml": workflow})["w.yaml/deploy"] == [
        f"repo:{REPO}:pull_request",
        f"repo:{REPO}:ref:refs/heads/main",
    ]


@pytest.mark.parametrize("prefix", ["$/", "./"])
def test_a_reusable_workflow_runs_in_its_callers_contexts(prefix: str) -> None:
    called = _workflow({"workflow_call": {"inputs": {}}})
    caller = {
        "on": {"pull_request": None, "push": {"branches": ["main"]}},
        "jobs": {
            "call": {
                "if": "github.event_name == 'push'",
                "uses": f"{prefix}.github/workflows/called.yaml",
                "permissions": {"id-token": "write"},
            }
        },
    }
    subjects = _subjects({"called.yaml": called, "caller.yaml": caller})
    assert subjects == {"called.yaml/deploy": [f"repo:{REPO}:ref:refs/heads/main"]}


def test_unmodelled_constructs_are_errors_not_guesses() -> None:
    with pytest.raises(oidc.AnalysisError, match="release"):
        _subjects({"w.yaml": _workflow({"release": {"types": ["published"]}})})
    with pytest.raises(oidc.AnalysisError, match="environment set by an expression"):
        _subjects({"w.yaml": _workflow("push", environment="${{ inputs.environment }}")})
    step = {**ASSUME, "with": {"role-to-assume": "${{ secrets.ROLE }}"}}
    with pytest.raises(oidc.AnalysisError, match="role-to-assume"):
        _subjects({"w.yaml": _workflow("push", steps=[step])})


def test_the_immutable_repository_form_keeps_the_context() -> None:
    use = oidc.Analysis({"w.yaml": _workflow({"push": {"branches": ["main"]}})}, REPO).role_uses()[
        0
    ]
    assert use.subjects("kontaxa@111/kontaxa@222") == [
        "repo:kontaxa@111/kontaxa@222:ref:refs/heads/main"
    ]


# ---- trust policies ------------------------------------------------------------------------
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def _trust(operator: str, subjects: list[str], effect: str = "Allow") -> dict[str, Any]:
    conditions: dict[str, dict[str, Any]] = {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    }
    conditions.setdefault(operator, {})["token.actions.githubusercontent.com:sub"] = subjects
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": effect,
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": PROVIDER},
                "Condition": conditions,
            }
        ],
    }


def test_string_equals_trusts_exactly_the_listed_subjects() -> None:
    trust = _trust("StringEquals", [f"repo:{REPO}:ref:refs/heads/main"])
    assert oidc.trust_refusal(trust, f"repo:{REPO}:ref:refs/heads/main") is None
    refusal = oidc.trust_refusal(trust, f"repo:{REPO}:environment:production")
    assert refusal is not None
    assert "environment:production" in refusal
    assert oidc.trust_refusal(trust, f"repo:{REPO}:pull_request") is not None
    assert oidc.trust_refusal(trust, f"repo:{REPO}:ref:refs/heads/main", "other-aud") is not None


def test_string_like_matches_iam_wildcards_only() -> None:
    trust = _trust(
        "StringLike", [f"repo:{REPO}:ref:refs/heads/release-?", f"repo:{REPO}:environment:*"]
    )
    assert oidc.trust_refusal(trust, f"repo:{REPO}:ref:refs/heads/release-1") is None
    assert oidc.trust_refusal(trust, f"repo:{REPO}:environment:prod") is None
    assert oidc.trust_refusal(trust, f"repo:{REPO}:ref:refs/heads/release-10") is not None
    dotted = _trust("StringLike", ["repo:kontaxa/kontaxa:ref:refs/heads/a.b"])
    assert oidc.trust_refusal(dotted, "repo:kontaxa/kontaxa:ref:refs/heads/aXb") is not None


def test_a_deny_wins_and_other_principals_do_not_count() -> None:
    subject = f"repo:{REPO}:ref:refs/heads/main"
    allow = _trust("StringEquals", [subject])
    deny = _trust("StringEquals", [subject], effect="Deny")
    both = {"Statement": allow["Statement"] + deny["Statement"]}
    assert oidc.trust_refusal(both, subject) is not None
    other = _trust("StringEquals", [subject])
    other["Statement"][0]["Principal"] = {"Federated": "arn:aws:iam::1:oidc-provider/example.com"}
    assert oidc.trust_refusal(other, subject) is not None
    with pytest.raises(oidc.AnalysisError, match="NumericEquals"):
        oidc.trust_refusal(_trust("NumericEquals", ["1"]), subject)


# ---- the repository's workflows ----------------------------------------------------------------
EXPECTED_ROLE_USES = {
    ("main-api-ci-cd.yaml", "publish", "AWS_CI_ROLE_ARN"): ["ref:refs/heads/main"],
    ("aux-service-ci-cd.yaml", "publish", "AWS_CI_ROLE_ARN"): ["ref:refs/heads/main"],
    ("golden-image.yaml", "publish", "AWS_CI_ROLE_ARN"): ["ref:refs/heads/main"],
    ("release-tag.yaml", "tag", "AWS_CI_ROLE_ARN"): ["ref:refs/heads/main"],
    ("terraform.yaml", "plan", "AWS_PLAN_ROLE_ARN"): ["pull_request"],
}


def test_the_workflows_assume_roles_exactly_where_expected() -> None:
    """A job that starts assuming a role, or stops, must show up here first."""
    uses = oidc.Analysis(oidc.load_workflows(), REPO).role_uses()
    found = {(u.workflow, u.job, u.role_variable): u.subjects(REPO) for u in uses}
    assert found == {
        key: [f"repo:{REPO}:{claim}" for claim in claims]
        for key, claims in EXPECTED_ROLE_USES.items()
    }
    for use in uses:
        assert use.id_token_write, f"{use.label} assumes a role without id-token: write"
        assert use.role_variable in oidc.ROLE_VARIABLES, use.role_variable


def test_only_role_assuming_jobs_may_request_an_id_token() -> None:
    workflows = oidc.load_workflows()
    assuming = {(u.workflow, u.job) for u in oidc.Analysis(workflows, REPO).role_uses()}
    for name, workflow in workflows.items():
        assert "id-token" not in (workflow.get("permissions") or {}), (
            f"{name}: workflow-wide id-token"
        )
        for job_id, job in workflow["jobs"].items():
            if (job.get("permissions") or {}).get("id-token") == "write":
                assert (name, job_id) in assuming, (
                    f"{name}/{job_id} asks for an id-token it never uses"
                )


def test_command_line_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert oidc.main(["--json", "--repository", "acme/platform"]) == 0
    rows = yaml.safe_load(capsys.readouterr().out)
    plan = next(row for row in rows if row["workflow"] == "terraform.yaml")
    assert plan["subjects"] == ["repo:acme/platform:pull_request"]
    assert plan["terraform_role"] == "kontaxa-github-plan"


def test_docs_list_the_subjects_the_workflows_present() -> None:
    """docs/oidc.md's table of role-assuming jobs is the analysis, row for row."""
    doc = (REPO_ROOT / "docs" / "oidc.md").read_text()
    rows = re.findall(
        r"^\| `([\w.-]+\.yaml)` / ([\w-]+) \| `(\w+)` \| `([\w-]+)` \| [^|]+ \| `([^`]+)` \|$",
        doc,
        re.M,
    )
    documented = {(w, j, v, role, sub.replace("OWNER/REPO", REPO)) for w, j, v, role, sub in rows}
    uses = oidc.Analysis(oidc.load_workflows(), REPO).role_uses()
    actual = {
        (u.workflow, u.job, u.role_variable, oidc.ROLE_VARIABLES[u.role_variable], subject)
        for u in uses
        for subject in u.subjects(REPO)
    }
    assert documented == actual
