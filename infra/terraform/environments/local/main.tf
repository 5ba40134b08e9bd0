module "platform" {
  source = "../../modules/platform"

  github_repository       = var.github_repository
  create_ecr_repositories = var.create_ecr_repositories

  # Emulators run no instances: the cluster and its issuer, but no node group. Without
  # the cluster, the roles trust the given (kind) issuer: nothing is looked up locally.
  create_eks        = var.create_eks
  create_node_group = false
  # moto's EKS API drops the access configuration: asking for it would re-plan forever.
  enable_cluster_access_entries = false
  cluster_oidc_issuer_url       = var.create_eks ? null : var.cluster_oidc_issuer_url

  # The local runner skips the settings the provider waits for (the bucket's lifecycle rule,
  # the VPC's DNS hostnames, the cluster key's rotation and tags); the tests apply them, so
  # they stay covered.
  skip_provider_waits = var.skip_provider_waits

  disposable = true
  tags       = { environment = "local" }
}
