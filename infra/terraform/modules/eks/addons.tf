# The cluster's own add-ons as EKS managed add-ons, at pinned versions (variables.tf names the
# source of each version). Created only with the node group: the emulators have no add-on API,
# and without nodes CoreDNS and the EBS CSI controller never become ready.
locals {
  # Installed before the nodes join: the VPC CNI (with network policy enforcement, so the
  # namespace's default deny and the services' NetworkPolicies hold from the first pod) and
  # kube-proxy. Source: Amazon EKS User Guide, "Restrict Pod network traffic with Kubernetes
  # network policies": enableNetworkPolicy in the vpc-cni add-on configuration.
  addons_before_nodes = local.create_node_group ? {
    "vpc-cni" = {
      version       = var.addon_versions.vpc_cni
      configuration = jsonencode({ enableNetworkPolicy = "true" })
      role_arn      = module.addon_irsa["vpc-cni"].role_arn
    }
    "kube-proxy" = {
      version       = var.addon_versions.kube_proxy
      configuration = null
      role_arn      = null
    }
  } : {}

  # The add-ons that call AWS, each on a role of its own (IRSA) that only its kube-system
  # service account can assume; the node role holds neither policy.
  addon_roles = local.create_node_group ? {
    # Source: Amazon EKS User Guide, "Configure Amazon VPC CNI plugin to use IRSA": the
    # plugin's service account is aws-node, its permissions (IPv4) the AWS managed policy
    # AmazonEKS_CNI_Policy, and a separate role is the recommended place for it. At the pinned
    # release, aws/amazon-vpc-cni-k8s v1.21.1 config/master/aws-k8s-cni.yaml declares that
    # ServiceAccount as kube-system/aws-node.
    "vpc-cni" = {
      service_account = "aws-node"
      policy_arns     = { cni = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy" }
    }
    # The EBS CSI driver: Kubernetes has provisioned EBS volumes only through it since 1.23,
    # and the gp3 StorageClass of infra/k8s (platform/eks) names it. Source: Amazon EKS User
    # Guide, "Step 1: Create an IAM role" of "Use Kubernetes volume storage with Amazon EBS"
    # (service account name and managed policy).
    "ebs-csi-driver" = {
      service_account = "ebs-csi-controller-sa"
      policy_arns     = { ebs_csi = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" }
    }
  } : {}
}

module "addon_irsa" {
  source   = "../irsa"
  for_each = local.addon_roles

  role_name            = "${var.cluster_name}-${each.key}"
  oidc_provider_arn    = aws_iam_openid_connect_provider.this[0].arn
  oidc_issuer_url      = aws_eks_cluster.this[0].identity[0].oidc[0].issuer
  namespace            = "kube-system"
  service_account      = each.value.service_account
  policy_arns          = each.value.policy_arns
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

# The EBS CSI driver's role had a module call of its own: the same role, not a new one.
moved {
  from = module.ebs_csi_irsa[0]
  to   = module.addon_irsa["ebs-csi-driver"]
}

resource "aws_eks_addon" "before_nodes" {
  for_each = local.addons_before_nodes

  cluster_name                = aws_eks_cluster.this[0].name
  addon_name                  = each.key
  addon_version               = each.value.version
  configuration_values        = each.value.configuration
  service_account_role_arn    = each.value.role_arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags
}

resource "aws_eks_addon" "coredns" {
  count = local.create_node_group ? 1 : 0

  cluster_name                = aws_eks_cluster.this[0].name
  addon_name                  = "coredns"
  addon_version               = var.addon_versions.coredns
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  depends_on = [aws_eks_node_group.this]
}

resource "aws_eks_addon" "ebs_csi_driver" {
  count = local.create_node_group ? 1 : 0

  cluster_name                = aws_eks_cluster.this[0].name
  addon_name                  = "aws-ebs-csi-driver"
  addon_version               = var.addon_versions.ebs_csi_driver
  service_account_role_arn    = module.addon_irsa["ebs-csi-driver"].role_arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  depends_on = [aws_eks_node_group.this]
}
