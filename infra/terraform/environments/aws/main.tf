module "platform" {
  source = "../../modules/platform"

  github_repository           = var.github_repository
  github_repository_owner_id  = var.github_repository_owner_id
  github_repository_id        = var.github_repository_id
  github_branches             = var.github_branches
  github_environments         = var.github_environments
  create_github_oidc_provider = var.create_github_oidc_provider
  github_oidc_provider_arn    = var.github_oidc_provider_arn

  # The state object the pull request plan role reads: the backend's bucket and key.
  state_bucket = var.state_bucket
  state_key    = var.state_key

  create_eks                   = var.create_eks
  cluster_name                 = var.cluster_name
  kubernetes_version           = var.kubernetes_version
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  node_instance_types          = var.node_instance_types
  availability_zones           = var.availability_zones
  cluster_admin_principal_arns = var.cluster_admin_principal_arns
  cluster_log_retention_days   = var.cluster_log_retention_days
  api_hostname                 = var.api_hostname
  permissions_boundary         = var.permissions_boundary

  tags = { environment = "aws" }
}
