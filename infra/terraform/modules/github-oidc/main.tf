data "aws_partition" "current" {}

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
  # The token contexts each role trusts: the CI role its branches and environments, never a
  # pull request; the plan role pull requests only (code nobody has reviewed yet: it reads).
  role_contexts = merge(
    {
      ci = concat(
        [for branch in var.branches : "ref:refs/heads/${branch}"],
        [for environment in var.environments : "environment:${environment}"],
      )
    },
    var.plan_role == null ? {} : { plan = ["pull_request"] },
  )
  role_subjects = {
    for role, contexts in local.role_contexts : role => sort(flatten([
      for repository in local.repository_forms : [for context in contexts : "repo:${repository}:${context}"]
    ]))
  }
  subjects = local.role_subjects["ci"]

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
# One document per role (ci, plan), differing only in the subjects.
data "aws_iam_policy_document" "trust" {
  for_each = local.role_subjects

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
      values   = each.value
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
  assume_role_policy   = data.aws_iam_policy_document.trust["ci"].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
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

# The pull request plan: `terraform plan -refresh=false -lock=false`. Without refresh no
# managed resource is read back from AWS (no secret value, no SecureString, no live attribute),
# without lock nothing is written: what remains is reading the state object and what the
# configuration's data and ephemeral blocks call.
# Sources: Terraform's S3 backend documentation, "Permissions Required" (state object and
# bucket listing; the lock object is not needed with -lock=false), and the Service
# Authorization Reference of EKS, IAM and Secrets Manager for the lookups.
data "aws_iam_policy_document" "plan" {
  count = var.plan_role == null ? 0 : 1

  statement {
    # GetObject also covers the HeadObject the backend sends first.
    sid       = "ReadTheStateObject"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.plan_role.state_bucket}/${var.plan_role.state_key}"]
  }

  statement {
    # "At a minimum, this must be able to list the path where the state is stored." Listing
    # the workspaces (prefix env:/) is refused; Terraform then knows only the default
    # workspace, the one this role can read.
    sid       = "ListOnlyTheStateKey"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.plan_role.state_bucket}"]

    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [var.plan_role.state_key]
    }
  }

  dynamic "statement" {
    for_each = length(var.plan_role.eks_cluster_arns) > 0 ? [sort(var.plan_role.eks_cluster_arns)] : []

    content {
      # data "aws_eks_cluster": DescribeCluster, nothing else.
      sid       = "DescribeTheLookedUpClusters"
      actions   = ["eks:DescribeCluster"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(var.plan_role.oidc_provider_arns) > 0 ? [sort(var.plan_role.oidc_provider_arns)] : []

    content {
      # data "aws_iam_openid_connect_provider" looked up by arn (a lookup by url would list
      # every provider of the account, iam:ListOpenIDConnectProviders on "*").
      sid       = "ReadTheLookedUpOidcProviders"
      actions   = ["iam:GetOpenIDConnectProvider"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.plan_role.looks_up_zones ? [true] : []

    content {
      # data "aws_availability_zones" of a cluster created without pinned zones.
      # DescribeAvailabilityZones has no resource type in the Service Authorization Reference
      # (Amazon EC2): AWS only accepts "*". It reads the region's zone list.
      sid       = "ListAvailabilityZones"
      actions   = ["ec2:DescribeAvailabilityZones"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.plan_role.generates_passwords ? [true] : []

    content {
      # ephemeral "aws_secretsmanager_random_password" is opened during plan. GetRandomPassword
      # has no resource type in the Service Authorization Reference (AWS Secrets Manager,
      # "Actions defined by AWS Secrets Manager"): AWS only accepts "*". It returns a new
      # random string and reads no secret.
      sid       = "GenerateRandomPasswords"
      actions   = ["secretsmanager:GetRandomPassword"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role" "plan" {
  count = var.plan_role == null ? 0 : 1

  name                 = var.plan_role.name
  description          = "GitHub Actions pull requests in ${var.repository}: terraform plan -refresh=false -lock=false, read only"
  assume_role_policy   = data.aws_iam_policy_document.trust["plan"].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_policy" "plan" {
  count = var.plan_role == null ? 0 : 1

  name        = "${var.plan_role.name}-read"
  description = "Read the Terraform state object and what the configuration looks up during plan"
  policy      = data.aws_iam_policy_document.plan[0].json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "plan" {
  count = var.plan_role == null ? 0 : 1

  role       = aws_iam_role.plan[0].name
  policy_arn = aws_iam_policy.plan[0].arn
}
