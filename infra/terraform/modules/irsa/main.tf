locals {
  issuer_host = trimsuffix(trimprefix(var.oidc_issuer_url, "https://"), "/")
  subject     = "system:serviceaccount:${var.namespace}:${var.service_account}"
}

# Source: Amazon EKS User Guide, "Assign IAM roles to Kubernetes service accounts".
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "ThisServiceAccountOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:sub"
      values   = [local.subject]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "IRSA role of ${local.subject}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = var.policy_arns

  role       = aws_iam_role.this.name
  policy_arn = each.value
}
