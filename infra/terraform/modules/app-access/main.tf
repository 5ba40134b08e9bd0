data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  parameter_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.parameter_prefix}"
}

# What aux-service does: ListBuckets, GetParameter and GetParametersByPath under its prefix.
# Source: Service Authorization Reference for S3, SSM and KMS; SSM's use of KMS
# ("How AWS Systems Manager Parameter Store uses AWS KMS": encryption context PARAMETER_ARN).
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
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
    ]
    # The prefix itself (GetParametersByPath names the path) and everything below it.
    resources = [local.parameter_arn_prefix, "${local.parameter_arn_prefix}/*"]
  }

  statement {
    sid       = "DecryptSecureStringsThroughSsmOnly"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${data.aws_partition.current.partition}:kms:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["${local.parameter_arn_prefix}/*"]
    }
  }
}

# What the Secrets Store CSI driver's AWS provider calls for a SecretProviderClass of type secretsmanager.
# Source: aws/secrets-store-csi-driver-provider-aws README, "Configure access".
data "aws_iam_policy_document" "secrets_read" {
  statement {
    sid       = "ReadTheApplicationSecrets"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = sort(var.secret_arns)
  }
}

resource "aws_iam_policy" "aux_service" {
  name        = "${var.name_prefix}-aux-service"
  description = "aux-service: list buckets, read parameters under ${var.parameter_prefix}"
  policy      = data.aws_iam_policy_document.aux_service.json
  tags        = var.tags
}

resource "aws_iam_policy" "secrets_read" {
  name        = "${var.name_prefix}-secrets-read"
  description = "Secrets Store CSI driver: read the ${var.name_prefix} secrets"
  policy      = data.aws_iam_policy_document.secrets_read.json
  tags        = var.tags
}
