# The whole platform, composed once. Both environment roots call this module and
# differ only in provider settings, backend and the flags they pass.
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  gitops_repository_url = "https://github.com/${var.github_repository}.git"

  tags = merge({ "app.kubernetes.io/part-of" = var.name, "managed-by" = "terraform" }, var.tags)

  ecr_repository_arns = var.create_ecr_repositories ? [for name in sort(var.ecr_repositories) : module.ecr.repository_arns[name]] : [
    for name in sort(var.ecr_repositories) :
    "arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:repository/${name}"
  ]
}

module "ecr" {
  source = "../ecr"

  repository_names   = var.create_ecr_repositories ? var.ecr_repositories : toset([])
  force_delete       = var.disposable
  release_tag_prefix = var.release_tag_prefix
  tags               = local.tags
}

module "app_config" {
  source = "../app-config"

  name_prefix                    = var.name
  parameter_prefix               = var.parameter_prefix
  string_parameters              = var.string_parameters
  secure_parameters              = var.secure_parameters
  generated_value_version        = var.generated_value_version
  secret_recovery_window_in_days = var.disposable ? 0 : 30
  bucket_force_destroy           = var.disposable
  enable_bucket_lifecycle        = !var.skip_provider_waits
  tags                           = local.tags
}

module "app_access" {
  source = "../app-access"

  name_prefix      = var.name
  parameter_prefix = var.parameter_prefix
  # What each service's SecretProviderClass mounts (infra/k8s/apps/*/secretproviderclass.yaml;
  # a test compares them).
  service_secret_arns = {
    "aux-service" = [module.app_config.secret_arns["service-token"]]
    "main-api"    = [module.app_config.secret_arns["service-token"], module.app_config.secret_arns["api-keys"]]
  }
  tags = local.tags
}

module "github_oidc" {
  source = "../github-oidc"

  create_provider      = var.create_github_oidc_provider
  provider_arn         = var.github_oidc_provider_arn
  repository           = var.github_repository
  repository_owner_id  = var.github_repository_owner_id
  repository_id        = var.github_repository_id
  branches             = var.github_branches
  environments         = var.github_environments
  role_name            = "${var.name}-github-ci"
  ecr_repository_arns  = local.ecr_repository_arns
  permissions_boundary = var.permissions_boundary

  # What a plan of this platform calls besides the state: the data blocks of cluster.tf (the
  # other data blocks make no API call, and sts:GetCallerIdentity needs no permission) and the
  # ephemeral random passwords of app-config. A new data or ephemeral block that calls AWS
  # belongs here too (tests/test_static.py lists the known ones).
  plan_role = {
    name                = "${var.name}-github-plan"
    state_bucket        = coalesce(var.state_bucket, "${var.name}-tfstate-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}")
    state_key           = var.state_key
    eks_cluster_arns    = data.aws_eks_cluster.existing[*].arn
    oidc_provider_arns  = data.aws_iam_openid_connect_provider.existing[*].arn
    generates_passwords = true
    looks_up_zones      = var.create_eks && length(var.availability_zones) == 0
  }

  tags = local.tags
}
