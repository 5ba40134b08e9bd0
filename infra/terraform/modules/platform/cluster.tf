# Where IRSA roles get their issuer: a cluster created here, an existing EKS
# cluster looked up by name, or a given issuer (a non-EKS cluster).
module "eks" {
  source = "../eks"

  create                       = var.create_eks
  create_node_group            = var.create_node_group
  cluster_name                 = var.cluster_name
  kubernetes_version           = var.kubernetes_version
  vpc_cidr                     = var.vpc_cidr
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  node_instance_types          = var.node_instance_types
  availability_zones           = var.availability_zones
  enable_access_entries        = var.enable_cluster_access_entries
  admin_principal_arns         = var.cluster_admin_principal_arns
  cluster_log_retention_days   = var.cluster_log_retention_days
  permissions_boundary         = var.permissions_boundary
  skip_provider_waits          = var.skip_provider_waits
  tags                         = local.tags
}

locals {
  lookup_cluster = !var.create_eks && var.cluster_oidc_issuer_url == null
}

data "aws_eks_cluster" "existing" {
  count = local.lookup_cluster ? 1 : 0

  name = var.cluster_name
}

# By ARN, not by url: a lookup by url lists every provider of the account
# (iam:ListOpenIDConnectProviders, which AWS grants only on "*"), and the pull request plan
# role would need that too. By ARN it reads this one provider.
data "aws_iam_openid_connect_provider" "existing" {
  count = local.lookup_cluster ? 1 : 0

  arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${trimprefix(data.aws_eks_cluster.existing[0].identity[0].oidc[0].issuer, "https://")}"
}

resource "aws_iam_openid_connect_provider" "given_issuer" {
  count = !var.create_eks && var.cluster_oidc_issuer_url != null ? 1 : 0

  url            = var.cluster_oidc_issuer_url
  client_id_list = ["sts.amazonaws.com"]
  tags           = local.tags
}

locals {
  oidc_issuer_url = coalesce(
    module.eks.oidc_issuer_url,
    var.cluster_oidc_issuer_url,
    try(data.aws_eks_cluster.existing[0].identity[0].oidc[0].issuer, null),
  )
  oidc_provider_arn = coalesce(
    module.eks.oidc_provider_arn,
    try(aws_iam_openid_connect_provider.given_issuer[0].arn, null),
    try(data.aws_iam_openid_connect_provider.existing[0].arn, null),
  )

  # Secrets reach the pods through the CSI driver, whose official provider uses the
  # pod's own service account: each application role reads the secrets its service mounts.
  service_roles = {
    "aux-service" = {
      aux_service  = module.app_access.aux_service_policy_arn
      secrets_read = module.app_access.secrets_read_policy_arns["aux-service"]
    }
    "main-api" = {
      secrets_read = module.app_access.secrets_read_policy_arns["main-api"]
    }
  }
}

module "service_irsa" {
  source   = "../irsa"
  for_each = local.service_roles

  role_name            = "${var.name}-${each.key}"
  oidc_provider_arn    = local.oidc_provider_arn
  oidc_issuer_url      = local.oidc_issuer_url
  namespace            = var.namespace
  service_account      = each.key
  policy_arns          = each.value
  permissions_boundary = var.permissions_boundary
  tags                 = local.tags
}

module "cluster_addons_iam" {
  source = "../cluster-addons-iam"

  name_prefix          = var.name
  cluster_name         = var.cluster_name
  oidc_provider_arn    = local.oidc_provider_arn
  oidc_issuer_url      = local.oidc_issuer_url
  permissions_boundary = var.permissions_boundary
  tags                 = local.tags
}
