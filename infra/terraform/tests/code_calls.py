"""What code calls on AWS, as IAM actions, and what a policy document grants: the two sides
of the tests that a role grants exactly what its code calls.

Calls are read with ast (every method called on a `self.<attribute> = <session>.client("x")`
attribute, paginators included) and turned into IAM actions through botocore's own service
models, offline.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botocore.session

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


def calls_in_code(source: Path) -> set[tuple[str, str]]:
    """(service, method) of every call on a boto3 client attribute, paginated ones included,
    in one file or every Python file under a directory."""
    calls: set[tuple[str, str]] = set()
    for path in [source] if source.is_file() else sorted(source.rglob("*.py")):
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


# AWS CLI commands that are not one operation of the same name: get-login-password is
# GetAuthorizationToken (AWS CLI Command Reference, ecr get-login-password).
CLI_OPERATIONS = {("ecr", "get-login-password"): ("ecr", "get_authorization_token")}


def cli_calls(script: Path, cli: str = '"$AWS"') -> set[tuple[str, str]]:
    """(service, method) of every `<cli> <service> <command>` an AWS CLI shell script runs."""
    calls: set[tuple[str, str]] = set()
    for service, command in re.findall(
        rf"{re.escape(cli)} ([a-z0-9-]+) ([a-z][a-z0-9-]*)", script.read_text()
    ):
        calls.add(CLI_OPERATIONS.get((service, command), (service, command.replace("-", "_"))))
    return calls
