data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  arn_tail = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
}

# Source: kubernetes/autoscaler, cluster-autoscaler/cloudprovider/aws/README.md,
# "Full Cluster Autoscaler Features Policy (Recommended)", narrowed to this cluster.
data "aws_iam_policy_document" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  statement {
    # These Describe/Get calls have no resource type in the Service Authorization
    # Reference: AWS only accepts "*" for them. They read, never change.
    sid = "DiscoverNodeGroups"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeThisClustersNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${data.aws_partition.current.partition}:eks:${local.arn_tail}:nodegroup/${var.cluster_name}/*/*"]
  }

  statement {
    sid = "ScaleOnlyThisClustersGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:autoscaling:${local.arn_tail}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled"
      values   = ["true"]
    }
  }
}

resource "aws_iam_policy" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  name        = "${var.name_prefix}-cluster-autoscaler"
  description = "Cluster Autoscaler: scale the node groups of ${var.cluster_name}"
  policy      = data.aws_iam_policy_document.cluster_autoscaler[0].json
  tags        = var.tags
}

module "cluster_autoscaler_irsa" {
  source = "../irsa"
  count  = var.enable_cluster_autoscaler ? 1 : 0

  role_name            = "${var.name_prefix}-cluster-autoscaler"
  oidc_provider_arn    = var.oidc_provider_arn
  oidc_issuer_url      = var.oidc_issuer_url
  namespace            = var.cluster_autoscaler_service_account.namespace
  service_account      = var.cluster_autoscaler_service_account.name
  policy_arns          = { cluster_autoscaler = aws_iam_policy.cluster_autoscaler[0].arn }
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}
