#!/usr/bin/env python3
"""The OIDC subjects (`sub` claims) each role-assuming job of the workflows presents to AWS.

    scripts/ci/oidc_subjects.py [--repository OWNER/REPO] [--json]     (task ci:oidc-subjects)

GitHub's token for a job says `sub = repo:OWNER/REPO:<context>`, where context is

    environment:NAME        when the job declares `environment:` (whatever the event)
    pull_request            for pull_request events
    ref:refs/heads/BRANCH   for other events (push, schedule, workflow_dispatch...): the run's ref
    ref:refs/tags/TAG

and a repository created or renamed since 2026-07-15 presents only
`repo:OWNER@ID/REPO@ID:<context>`. A job assumes a role when a step uses
aws-actions/configure-aws-credentials with `role-to-assume`.
The events a job can run for come from its workflow's triggers (for a reusable workflow: from
the jobs that call it), narrowed by the job's `if:`, its `needs:` and the step's `if:`. Those
conditions are evaluated for each event with what is known of it (event name, ref); anything
else (repository variables, inputs, payload fields) counts as "could be either", so a job is
only left out where its condition is false for certain.

`trust_refusal()` evaluates a role's trust policy for one subject the way STS does for the
conditions such a policy uses (StringEquals, StringLike, and their negations).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
DEFAULT_REPOSITORY = "kontaxa/kontaxa"
DEFAULT_BRANCH = "main"
# A concrete stand-in for "any branch other than the default one".
OTHER_BRANCH = "some-other-branch"
CONFIGURE_AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
DEFAULT_AUDIENCE = "sts.amazonaws.com"
ISSUER = "token.actions.githubusercontent.com"
# Which Terraform role each repository variable holds (docs/oidc.md lists the same).
ROLE_VARIABLES = {
    "AWS_CI_ROLE_ARN": "kontaxa-github-ci",
    "AWS_PLAN_ROLE_ARN": "kontaxa-github-plan",
}


class AnalysisError(Exception):
    """A workflow construct this analysis cannot decide; the message says which and where."""


# ---- GitHub expressions, three-valued ---------------------------------------------------------
class _Unknown:
    """A value this analysis does not know (a variable, an input, a payload field)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
STATUS_FUNCTIONS = {"success", "always", "failure", "cancelled"}


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    expression = expression.strip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise AnalysisError(f"cannot parse expression {expression!r} at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _truth(value: Any) -> Any:
    """GitHub's truthiness, or UNKNOWN."""
    if value is UNKNOWN:
        return UNKNOWN
    return value not in (False, 0, "", None)


def _equal(left: Any, right: Any) -> Any:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()  # GitHub compares strings ignoring case
    return left == right


class _Parser:
    """Recursive descent over GitHub's expression grammar, evaluating as it goes."""

    def __init__(self, expression: str, values: dict[str, Any]) -> None:
        self.tokens = _tokens(expression)
        self.position = 0
        self.values = values
        self.expression = expression

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise AnalysisError(f"unexpected end of expression {self.expression!r}")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise AnalysisError(f"expected {expected!r} in {self.expression!r}, got {token[1]!r}")
        self.position += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.position != len(self.tokens):
            raise AnalysisError(f"trailing tokens in {self.expression!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            left_truth, right_truth = _truth(value), _truth(right)
            if left_truth is True or right_truth is True:
                value = True
            elif left_truth is UNKNOWN or right_truth is UNKNOWN:
                value = UNKNOWN
            else:
                value = right
        return value

    def and_(self) -> Any:
        value = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison()
            left_truth, right_truth = _truth(value), _truth(right)
            if left_truth is False or right_truth is False:
                value = False
            elif left_truth is UNKNOWN or right_truth is UNKNOWN:
                value = UNKNOWN
            else:
                value = right
        return value

    def comparison(self) -> Any:
        value = self.unary()
        operator = self.peek()
        if operator in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.unary()
            if operator == "==":
                return _equal(value, right)
            if operator == "!=":
                equal = _equal(value, right)
                return UNKNOWN if equal is UNKNOWN else not equal
            return UNKNOWN  # ordering never decides whether a job runs here
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            truth = _truth(self.unary())
            return UNKNOWN if truth is UNKNOWN else not truth
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind != "name":
            raise AnalysisError(f"unexpected {text!r} in {self.expression!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            return self.call(text)
        path = text
        known = True
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, part = self.take()
                path += f".{part}"
            else:
                index = self.or_()
                self.take("]")
                known = known and isinstance(index, str)
                path += f".{index}" if isinstance(index, str) else ".*"
        # Context and property names are case-insensitive in GitHub's expressions.
        return self.values.get(path.lower(), UNKNOWN) if known else UNKNOWN

    def call(self, name: str) -> Any:
        self.take("(")
        arguments: list[Any] = []
        while self.peek() != ")":
            arguments.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        lowered = name.lower()
        if lowered in ("success", "always"):
            return True  # the job may well run; whether it assumes the role is what matters
        if lowered in ("failure", "cancelled"):
            return UNKNOWN
        if UNKNOWN in arguments or len(arguments) != 2:
            return UNKNOWN
        haystack, needle = arguments
        if not isinstance(haystack, str) or not isinstance(needle, str):
            return UNKNOWN
        if lowered == "contains":
            return needle.lower() in haystack.lower()
        if lowered == "startswith":
            return haystack.lower().startswith(needle.lower())
        if lowered == "endswith":
            return haystack.lower().endswith(needle.lower())
        return UNKNOWN


def evaluate(condition: Any, values: dict[str, Any]) -> Any:
    """An `if:` value evaluated with the known `values`: True, False or UNKNOWN."""
    if condition is None:
        return True
    if isinstance(condition, bool):
        return condition
    text = str(condition).strip()
    wrapped = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    if wrapped and "${{" not in wrapped.group(1):
        text = wrapped.group(1)
    elif "${{" in text:
        return UNKNOWN  # a string with interpolations: truthy unless empty, not decidable here
    return _truth(_Parser(text, values).parse())


def uses_status_function(condition: Any) -> bool:
    """Whether an `if:` calls success(), always(), failure() or cancelled()."""
    return isinstance(condition, str) and bool(
        re.search(r"\b(" + "|".join(STATUS_FUNCTIONS) + r")\s*\(", condition, re.I)
    )


# ---- events and the contexts they run in ------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """One way a run can start: the event and the ref GitHub gives it."""

    event: str
    ref: str

    def values(self, repository: str) -> dict[str, Any]:
        """What expressions may read of this run."""
        ref_type = "tag" if self.ref.startswith("refs/tags/") else "branch"
        name = re.sub(r"^refs/(heads|tags|pull)/", "", self.ref)
        pull = self.event == "pull_request"
        return {
            "github.event_name": self.event,
            "github.ref": self.ref,
            "github.ref_name": name,
            "github.ref_type": ref_type,
            "github.repository": repository,
            "github.base_ref": UNKNOWN if pull else "",
            "github.head_ref": UNKNOWN if pull else "",
        }

    def context_claim(self, environment: str | None) -> str:
        """The part of `sub` after the repository."""
        if environment:
            return f"environment:{environment}"
        if self.event == "pull_request":
            return "pull_request"
        return f"ref:{self.ref}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _branch_refs(include: list[str], ignore: list[str], default_branch: str) -> list[str]:
    """Representative refs of branches a push filter lets through."""
    candidates = [default_branch, OTHER_BRANCH]
    literal = [b for b in include if not any(c in b for c in "*?[!")]
    if include:
        globbed = [b for b in include if b not in literal]
        chosen = literal + [c for c in candidates if any(fnmatchcase(c, g) for g in globbed)]
        if globbed and OTHER_BRANCH not in chosen:
            chosen.append(OTHER_BRANCH)  # a pattern matches branches we cannot list
    else:
        chosen = candidates
    return [f"refs/heads/{b}" for b in dict.fromkeys(chosen) if b not in ignore]


def trigger_contexts(on: Any, default_branch: str, where: str) -> list[Context]:
    """The contexts a workflow's own triggers start it in (workflow_call excluded)."""
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = dict.fromkeys(on)
    if not isinstance(on, dict):
        raise AnalysisError(f"{where}: cannot read `on:`")
    contexts: list[Context] = []
    default_ref = f"refs/heads/{default_branch}"
    for event, spec in on.items():
        spec = spec or {}
        if event == "workflow_call":
            continue
        if event == "pull_request":
            contexts.append(Context("pull_request", "refs/pull/1/merge"))
        elif event == "push":
            branches = _as_list(spec.get("branches"))
            ignore = _as_list(spec.get("branches-ignore"))
            tags = _as_list(spec.get("tags")) + _as_list(spec.get("tags-ignore"))
            if branches or ignore or not tags:
                contexts += [
                    Context("push", ref) for ref in _branch_refs(branches, ignore, default_branch)
                ]
            if tags or not (branches or ignore):
                contexts.append(Context("push", "refs/tags/some-tag"))
        elif event in ("schedule", "workflow_run"):
            contexts.append(Context(event, default_ref))
        elif event == "workflow_dispatch":
            contexts += [Context(event, default_ref), Context(event, f"refs/heads/{OTHER_BRANCH}")]
        else:
            raise AnalysisError(
                f"{where}: the subject of a `{event}` run is not modelled here; extend "
                "scripts/ci/oidc_subjects.py before a role-assuming workflow uses it"
            )
    return contexts


# ---- workflows, jobs, role uses ---------------------------------------------------------------
@dataclass
class RoleUse:
    """A step that assumes an AWS role, with the contexts its job can run it in."""

    workflow: str
    job: str
    step: str
    role_variable: str
    audience: str
    environment: str | None
    id_token_write: bool
    contexts: list[Context] = field(default_factory=list)

    def subjects(self, repository: str) -> list[str]:
        """Every `sub` this step may present for `repository` (OWNER/REPO or OWNER@ID/REPO@ID)."""
        claims = dict.fromkeys(c.context_claim(self.environment) for c in self.contexts)
        return [f"repo:{repository}:{claim}" for claim in claims]

    @property
    def label(self) -> str:
        """workflow/job, for test ids and messages."""
        return f"{self.workflow}/{self.job}"


def load_workflows(directory: Path = WORKFLOWS_DIR) -> dict[str, dict[str, Any]]:
    """Every workflow file of `directory`, by file name."""
    workflows: dict[str, dict[str, Any]] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict):
            # PyYAML reads the key `on` as the boolean True (YAML 1.1).
            if True in document:
                document["on"] = document.pop(True)
            workflows[path.name] = document
    return workflows


def _called_file(uses: Any) -> str | None:
    """The file name of a reusable workflow of this repository (`$/...` or `./...`)."""
    if isinstance(uses, str) and uses.startswith(("$/.github/workflows/", "./.github/workflows/")):
        return uses.rsplit("/", 1)[1]
    return None


def _grants_id_token(*permissions: Any) -> bool:
    """Whether the closest `permissions:` given grants id-token: write."""
    for granted in permissions:
        if granted is None:
            continue
        if granted == "write-all":
            return True
        return isinstance(granted, dict) and granted.get("id-token") == "write"
    return False


def _environment(job: dict[str, Any], where: str) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    if environment is None:
        return None
    if not isinstance(environment, str) or "${{" in environment:
        raise AnalysisError(f"{where}: environment set by an expression cannot be checked")
    return environment


def _role_variable(step: dict[str, Any], where: str) -> str:
    role = str((step.get("with") or {}).get("role-to-assume", ""))
    match = re.fullmatch(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)\s*\}\}", role.strip())
    if match:
        return match.group(1)
    literal = re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([\w+=,.@-]+)", role.strip())
    if literal:
        return f"role/{literal.group(1)}"
    raise AnalysisError(f"{where}: role-to-assume must be ${{{{ vars.NAME }}}} or a role ARN")


class Analysis:
    """The contexts of every job of a set of workflows, and the steps that assume roles."""

    def __init__(
        self,
        workflows: dict[str, dict[str, Any]],
        repository: str = DEFAULT_REPOSITORY,
        default_branch: str = DEFAULT_BRANCH,
    ) -> None:
        self.workflows = workflows
        self.repository = repository
        self.default_branch = default_branch
        self._workflow_contexts: dict[str, list[Context]] = {}
        self._job_contexts: dict[tuple[str, str], list[Context]] = {}

    def workflow_contexts(self, name: str, seen: tuple[str, ...] = ()) -> list[Context]:
        """Contexts `name` runs in: its triggers, plus those of the jobs that call it."""
        if name in self._workflow_contexts:
            return self._workflow_contexts[name]
        if name in seen:
            raise AnalysisError(f"reusable workflows call each other in a loop: {seen}")
        workflow = self.workflows[name]
        contexts = trigger_contexts(workflow.get("on"), self.default_branch, name)
        for caller, document in self.workflows.items():
            for job_id, job in (document.get("jobs") or {}).items():
                if _called_file(job.get("uses")) == name:
                    contexts += self.job_contexts(caller, job_id, (*seen, name))
        self._workflow_contexts[name] = list(dict.fromkeys(contexts))
        return self._workflow_contexts[name]

    def job_contexts(self, name: str, job_id: str, seen: tuple[str, ...] = ()) -> list[Context]:
        """Contexts in which job `job_id` of workflow `name` may run."""
        key = (name, job_id)
        if key in self._job_contexts:
            return self._job_contexts[key]
        jobs = self.workflows[name].get("jobs") or {}
        job = jobs[job_id]
        condition = job.get("if")
        needs = _as_list(job.get("needs"))
        runs_after_skips = uses_status_function(condition) and not re.search(
            r"\bsuccess\s*\(", str(condition), re.I
        )
        contexts = []
        for context in self.workflow_contexts(name, seen):
            if evaluate(condition, context.values(self.repository)) is False:
                continue
            if not runs_after_skips and any(
                context not in self.job_contexts(name, need, seen) for need in needs
            ):
                continue  # a needed job is skipped, so this one is skipped too
            contexts.append(context)
        self._job_contexts[key] = contexts
        return contexts

    def role_uses(self) -> list[RoleUse]:
        """Every step that assumes a role, with the contexts it may do so in."""
        uses: list[RoleUse] = []
        for name, workflow in self.workflows.items():
            for job_id, job in (workflow.get("jobs") or {}).items():
                for index, step in enumerate(job.get("steps") or []):
                    action = str(step.get("uses", ""))
                    if not action.startswith(CONFIGURE_AWS_CREDENTIALS + "@"):
                        continue
                    where = f"{name} job {job_id} step {step.get('name', index)}"
                    if "role-to-assume" not in (step.get("with") or {}):
                        continue
                    contexts = [
                        c
                        for c in self.job_contexts(name, job_id)
                        if evaluate(step.get("if"), c.values(self.repository)) is not False
                    ]
                    uses.append(
                        RoleUse(
                            workflow=name,
                            job=job_id,
                            step=str(step.get("name", index)),
                            role_variable=_role_variable(step, where),
                            audience=str(
                                (step.get("with") or {}).get("audience", DEFAULT_AUDIENCE)
                            ),
                            environment=_environment(job, where),
                            id_token_write=_grants_id_token(
                                job.get("permissions"), workflow.get("permissions")
                            ),
                            contexts=contexts,
                        )
                    )
        return uses


# ---- trust policies ---------------------------------------------------------------------------
def _iam_glob(pattern: str) -> re.Pattern[str]:
    """IAM's StringLike: * is any run of characters, ? one character, nothing else special."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S
    )


def _condition_holds(operator: str, expected: list[str], actual: str) -> bool:
    base = operator.split(":")[-1]
    base = base.removesuffix("IfExists")
    if base == "StringEquals":
        return actual in expected
    if base == "StringNotEquals":
        return actual not in expected
    if base == "StringLike":
        return any(_iam_glob(p).fullmatch(actual) for p in expected)
    if base == "StringNotLike":
        return not any(_iam_glob(p).fullmatch(actual) for p in expected)
    raise AnalysisError(f"trust condition operator {operator} is not modelled here")


def _statement_matches(statement: dict[str, Any], claims: dict[str, str]) -> bool:
    actions = _as_list(statement.get("Action"))
    if "sts:AssumeRoleWithWebIdentity" not in actions and "sts:*" not in actions:
        return False
    principal = statement.get("Principal") or {}
    federated = _as_list(principal.get("Federated") if isinstance(principal, dict) else None)
    if not any(str(arn).endswith(f"oidc-provider/{ISSUER}") for arn in federated):
        return False
    for operator, tests in (statement.get("Condition") or {}).items():
        for key, values in tests.items():
            claim = key.removeprefix(f"{ISSUER}:")
            if claim not in claims:
                raise AnalysisError(f"trust condition on {key} is not modelled here")
            if not _condition_holds(operator, [str(v) for v in _as_list(values)], claims[claim]):
                return False
    return True


def trust_refusal(
    trust: dict[str, Any], subject: str, audience: str = DEFAULT_AUDIENCE
) -> str | None:
    """None when STS would let a token with this sub and aud assume the role; else why not."""
    claims = {"sub": subject, "aud": audience}
    statements = _as_list(trust.get("Statement"))
    if any(s.get("Effect") == "Deny" and _statement_matches(s, claims) for s in statements):
        return f"a Deny statement matches sub {subject}"
    if any(s.get("Effect") == "Allow" and _statement_matches(s, claims) for s in statements):
        return None
    trusted = sorted(
        str(value)
        for s in statements
        for tests in (s.get("Condition") or {}).values()
        for key, values in tests.items()
        if key.endswith(":sub")
        for value in _as_list(values)
    )
    return f"no statement allows sub {subject} (aud {audience}); the trust lists {trusted}"


# ---- command line -----------------------------------------------------------------------------
def _rows(uses: Iterable[RoleUse], repository: str) -> Iterator[dict[str, Any]]:
    for use in uses:
        yield {
            "workflow": use.workflow,
            "job": use.job,
            "role_variable": use.role_variable,
            "terraform_role": ROLE_VARIABLES.get(use.role_variable),
            "environment": use.environment,
            "events": sorted({c.event for c in use.contexts}),
            "subjects": use.subjects(repository),
        }


def main(argv: list[str] | None = None) -> int:
    """Print the subjects each role-assuming job presents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY, help="OWNER/REPO")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        rows = list(_rows(Analysis(load_workflows(), args.repository).role_uses(), args.repository))
    except AnalysisError as error:
        print(f"oidc-subjects: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        role = f"vars.{row['role_variable']} ({row['terraform_role']})"
        print(f"{row['workflow']} / {row['job']}: {role}")
        for subject in row["subjects"]:
            print(f"    {subject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
