data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  parameter_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.parameter_prefix}"
}

# What aux-service does: ListBuckets, GetParameter and GetParametersByPath under its prefix,
# always WithDecryption=False, so no KMS call (a SecureString comes back encrypted).
# Source: Service Authorization Reference for S3 and SSM. tests/test_app_access.py derives the
# actions from the boto3 calls in services/aux-service and compares.
data "aws_iam_policy_document" "aux_service" {
  statement {
    # ListAllMyBuckets has no resource type: AWS only accepts "*" for it.
    sid       = "ListBuckets"
    actions   = ["s3:ListAllMyBuckets"]
    resources = ["*"]
  }

  statement {
    sid = "ReadParametersUnderPrefix"
    actions = [
      "ssm:GetParameter",
      "ssm:GetParametersByPath",
    ]
    # The prefix itself (GetParametersByPath names the path) and everything below it.
    resources = [local.parameter_arn_prefix, "${local.parameter_arn_prefix}/*"]
  }
}

# What the Secrets Store CSI driver's AWS provider calls for a SecretProviderClass of type
# secretsmanager, with the token of the pod that mounts it: one policy per service, naming only
# the secrets that service's SecretProviderClass mounts.
# Source: aws/secrets-store-csi-driver-provider-aws README, "Configure access".
data "aws_iam_policy_document" "secrets_read" {
  for_each = var.service_secret_arns

  statement {
    sid       = "ReadTheServiceSecrets"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = sort(each.value)
  }
}

resource "aws_iam_policy" "aux_service" {
  name        = "${var.name_prefix}-aux-service"
  description = "aux-service: list buckets, read parameters under ${var.parameter_prefix}"
  policy      = data.aws_iam_policy_document.aux_service.json
  tags        = var.tags
}

resource "aws_iam_policy" "secrets_read" {
  for_each = var.service_secret_arns

  name        = "${var.name_prefix}-${each.key}-secrets-read"
  description = "Secrets Store CSI driver: read the secrets ${each.key} mounts"
  policy      = data.aws_iam_policy_document.secrets_read[each.key].json
  tags        = var.tags
}
