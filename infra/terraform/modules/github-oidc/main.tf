locals {
  issuer_host = "token.actions.githubusercontent.com"
  audience    = "sts.amazonaws.com"

  owner = split("/", var.repository)[0]
  name  = split("/", var.repository)[1]

  # Classic form always; the immutable owner@ID/repo@ID form as well when the ids are known,
  # so renaming or re-creating a repository under the same name cannot inherit the trust.
  repository_forms = concat(
    [var.repository],
    var.repository_id == null ? [] : ["${local.owner}@${var.repository_owner_id}/${local.name}@${var.repository_id}"],
  )
  contexts = concat(
    [for branch in var.branches : "ref:refs/heads/${branch}"],
    [for environment in var.environments : "environment:${environment}"],
  )
  subjects = sort(flatten([
    for repository in local.repository_forms : [for context in local.contexts : "repo:${repository}:${context}"]
  ]))

  provider_arn = var.create_provider ? aws_iam_openid_connect_provider.this[0].arn : var.provider_arn
}

# No thumbprint_list: AWS validates GitHub's certificate against its own trusted CAs.
resource "aws_iam_openid_connect_provider" "this" {
  count = var.create_provider ? 1 : 0

  url            = "https://${local.issuer_host}"
  client_id_list = [local.audience]
  tags           = var.tags
}

# Source: GitHub docs, "Configuring OpenID Connect in Amazon Web Services" (StringEquals on aud and sub).
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubActionsForThisRepository"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:aud"
      values   = [local.audience]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:sub"
      values   = local.subjects
    }
  }
}

# Source: Amazon ECR User Guide, "Pushing a Docker image" (required IAM permissions).
data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid = "PushToTheseRepositories"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = sort(var.ecr_repository_arns)
  }

  statement {
    # GetAuthorizationToken (docker login) has no resource type in the Service
    # Authorization Reference: AWS only accepts "*" for it.
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "GitHub Actions in ${var.repository}: push images to ECR, nothing else"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

resource "aws_iam_policy" "ecr_push" {
  name        = "${var.role_name}-ecr-push"
  description = "Push images to the project's ECR repositories"
  policy      = data.aws_iam_policy_document.ecr_push.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "ecr_push" {
  role       = aws_iam_role.this.name
  policy_arn = aws_iam_policy.ecr_push.arn
}
