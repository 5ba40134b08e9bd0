"""aux-service's IAM policy grants exactly what its code calls (issue 16, point 7).

The calls are read from services/aux-service with ast (every method called on its boto3
clients, paginators included) and turned into IAM actions through botocore's own service
models; the actions are read from modules/app-access. A call added to the code without its
action, or an action left in the policy that no code calls, fails here.
"""

from __future__ import annotations

import ast

from .code_calls import calls_in_code, iam_actions, policy_actions
from .conftest import REPO_ROOT, TERRAFORM_DIR

AUX_SERVICE = REPO_ROOT / "services" / "aux-service" / "src" / "aux_service"
POLICY = TERRAFORM_DIR / "modules" / "app-access" / "main.tf"


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
