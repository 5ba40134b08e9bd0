"""The policy rules themselves: each breach is caught, each allowed form passes."""

from __future__ import annotations

from typing import Any

import pytest

from .policy_rules import STAR_RESOURCE_ACTIONS, policy_violations


def _doc(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::b"}, "wildcard action 's3:*'"),
        ({"Action": "*", "Resource": "arn:aws:s3:::b"}, "wildcard action '*'"),
        ({"Action": ["ssm:Get*"], "Resource": "arn:aws:ssm:::x"}, "wildcard action 'ssm:Get*'"),
        (
            {"Action": ["s3:ListAllMyBuckets", "s3:GetObject"], "Resource": "*"},
            "Resource '*' for s3:GetObject",
        ),
        ({"Action": "ssm:GetParameter", "Resource": ["arn:x", "*"]}, "Resource '*' for ssm"),
        ({"NotAction": "iam:*", "Resource": "arn:x"}, "NotAction grants everything"),
        ({"Action": "s3:GetObject", "NotResource": "arn:x"}, "NotResource grants everything"),
        ({"Action": "sts:AssumeRole", "Principal": "*"}, "Principal '*'"),
        ({"Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}, "Principal '*'"),
    ],
)
def test_each_breach_is_reported(statement: dict[str, Any], expected: str) -> None:
    problems = policy_violations("doc", _doc(**statement))
    assert any(expected in problem for problem in problems), problems


def test_a_document_without_statements_is_reported() -> None:
    assert policy_violations("doc", {"Version": "2012-10-17", "Statement": []})


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Action": sorted(STAR_RESOURCE_ACTIONS), "Resource": "*"},
        {"Action": ["ssm:GetParameter"], "Resource": ["arn:aws:ssm:us-east-1:1:parameter/a/*"]},
        {
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
        },
    ],
)
def test_allowed_forms_pass(statement: dict[str, Any]) -> None:
    assert policy_violations("doc", _doc(**statement)) == []
