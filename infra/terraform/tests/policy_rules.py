"""The IAM rules every rendered policy document must keep: no wildcard action, no "*"
resource except for the few actions AWS only authorizes on "*".
"""

from __future__ import annotations

from typing import Any

# Actions whose entry in the Service Authorization Reference lists no resource type:
# AWS only accepts Resource "*" for them. Anything else on "*" is a violation.
STAR_RESOURCE_ACTIONS: dict[str, str] = {
    "s3:ListAllMyBuckets": "aux-service lists the account's buckets",
    "ecr:GetAuthorizationToken": "the CI role's docker login to the registry",
    "secretsmanager:GetRandomPassword": (
        "the plan role: a plan opens the ephemeral random passwords (returns a new random"
        " string, reads no secret)"
    ),
    "ec2:DescribeAvailabilityZones": (
        "the plan role: a created cluster's zones are looked up (reads the region's zone list)"
    ),
    "autoscaling:DescribeAutoScalingGroups": "Cluster Autoscaler discovery (read only)",
    "autoscaling:DescribeAutoScalingInstances": "Cluster Autoscaler discovery (read only)",
    "autoscaling:DescribeLaunchConfigurations": "Cluster Autoscaler discovery (read only)",
    "autoscaling:DescribeScalingActivities": "Cluster Autoscaler discovery (read only)",
    "ec2:DescribeImages": "Cluster Autoscaler discovery (read only)",
    "ec2:DescribeInstanceTypes": "Cluster Autoscaler discovery (read only)",
    "ec2:DescribeLaunchTemplateVersions": "Cluster Autoscaler discovery (read only)",
    "ec2:GetInstanceTypesFromInstanceRequirements": "Cluster Autoscaler discovery (read only)",
}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_violations(name: str, document: dict[str, Any]) -> list[str]:
    """Every breach of the rules in one policy document, each naming the statement."""
    problems: list[str] = []
    statements = _as_list(document.get("Statement"))
    if not statements:
        problems.append(f"{name}: no statements")
    for index, statement in enumerate(statements):
        where = f"{name} statement {statement.get('Sid') or index}"
        for negated in ("NotAction", "NotResource", "NotPrincipal"):
            if negated in statement:
                problems.append(f"{where}: {negated} grants everything it does not name")
        actions = [str(action) for action in _as_list(statement.get("Action"))]
        if not actions:
            problems.append(f"{where}: no Action")
        problems.extend(f"{where}: wildcard action {a!r}" for a in actions if "*" in a)
        principal = statement.get("Principal")
        if principal == "*" or (
            isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))
        ):
            problems.append(f"{where}: Principal '*'")
        if "*" in _as_list(statement.get("Resource")):
            problems.extend(
                f"{where}: Resource '*' for {action}, which has resource-level permissions"
                for action in actions
                if action not in STAR_RESOURCE_ACTIONS
            )
    return problems
