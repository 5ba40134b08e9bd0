"""aux-service's IAM policy grants exactly what its code calls (issue 16, point 7).

The calls are read from services/aux-service with ast (every method called on its boto3
clients, paginators included) and turned into IAM actions through botocore's own service
models; the actions are read from modules/app-access. A call added to the code without its
action, or an action left in the policy that no code calls, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botocore.session

from .conftest import REPO_ROOT, TERRAFORM_DIR

AUX_SERVICE = REPO_ROOT / "services" / "aux-service" / "src" / "aux_service"
POLICY = TERRAFORM_DIR / "modules" / "app-access" / "main.tf"

# The IAM action that authorizes an operation when it is not service:Operation
# (Service Authorization Reference for Amazon S3: ListBuckets is s3:ListAllMyBuckets).
AUTHORIZED_AS = {"s3:ListBuckets": "s3:ListAllMyBuckets"}
# Client methods that are not AWS operations.
NOT_OPERATIONS = {"get_paginator", "get_waiter", "can_paginate", "close"}


def _client_attributes(tree: ast.AST) -> dict[str, str]:
    """self.<attribute> = session.client("<service>", ...) assignments: attribute -> service."""
    clients: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if isinstance(call.func, ast.Attribute) and call.func.attr == "client" and call.args:
            service = call.args[0]
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(service, ast.Constant):
                    clients[target.attr] = str(service.value)
    return clients


def calls_in_code(source_dir: Path) -> set[tuple[str, str]]:
    """(service, method) of every call on a boto3 client attribute, paginated ones included."""
    calls: set[tuple[str, str]] = set()
    for path in sorted(source_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        clients = _client_attributes(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if not (isinstance(owner, ast.Attribute) and owner.attr in clients):
                continue
            service, method = clients[owner.attr], node.func.attr
            if method == "get_paginator":
                (argument,) = node.args
                assert isinstance(argument, ast.Constant), f"{path}: paginator name not literal"
                calls.add((service, str(argument.value)))
            elif method not in NOT_OPERATIONS:
                calls.add((service, method))
    return calls


def iam_actions(calls: set[tuple[str, str]]) -> set[str]:
    """The IAM actions of boto3 client calls, by botocore's service models (offline)."""
    session = botocore.session.get_session()
    actions = set()
    for service, method in calls:
        model = session.get_service_model(service)
        by_method = {botocore.xform_name(name): name for name in model.operation_names}
        assert method in by_method, f"{service}.{method} is not an operation of {service}"
        action = f"{model.signing_name}:{by_method[method]}"
        actions.add(AUTHORIZED_AS.get(action, action))
    return actions


def policy_actions(text: str, document: str) -> set[str]:
    """Every action string of one data "aws_iam_policy_document" block."""
    block = re.search(rf'data "aws_iam_policy_document" "{document}" \{{(.*?)\n\}}', text, re.S)
    assert block, f"no policy document {document}"
    actions: set[str] = set()
    for listed in re.findall(r"actions\s+=\s+\[(.*?)\]", block.group(1), re.S):
        actions.update(re.findall(r'"([a-z0-9-]+:[A-Za-z]+)"', listed))
    return actions


def test_code_calls_are_read() -> None:
    """The reader finds the calls it must: a guard against a parser that finds nothing."""
    calls = calls_in_code(AUX_SERVICE)
    assert ("s3", "list_buckets") in calls
    assert ("ssm", "get_parameter") in calls


def test_aux_service_policy_grants_exactly_the_calls_of_its_code() -> None:
    expected = iam_actions(calls_in_code(AUX_SERVICE))
    granted = policy_actions(POLICY.read_text(), "aux_service")
    assert granted == expected, (
        f"granted but never called: {sorted(granted - expected)}; "
        f"called but not granted: {sorted(expected - granted)}"
    )


def test_the_code_never_asks_ssm_to_decrypt() -> None:
    """No kms:Decrypt in the policy holds only while every SSM read passes WithDecryption=False."""
    for path in AUX_SERVICE.rglob("*.py"):
        calls = [
            node
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"get_parameter", "get_parameters_by_path", "paginate"}
        ]
        for keyword in (k for call in calls for k in call.keywords):
            if keyword.arg == "WithDecryption":
                assert isinstance(keyword.value, ast.Constant), path
                assert keyword.value.value is False, path
