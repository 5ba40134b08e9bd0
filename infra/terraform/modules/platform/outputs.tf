output "account_id" {
  description = "Account the platform lives in."
  value       = data.aws_caller_identity.current.account_id
}

output "region" {
  description = "Region the platform lives in."
  value       = data.aws_region.current.name
}

output "parameter_prefix" {
  description = "SSM path of the application's parameters (aux-service PARAMETER_PREFIX)."
  value       = var.parameter_prefix
}

output "parameter_names" {
  description = "Full names of the application's SSM parameters, keyed by relative name."
  value       = module.app_config.parameter_names
}

output "secret_names" {
  description = "Secrets Manager secret names (SecretProviderClass objectName), keyed by file alias."
  value       = module.app_config.secret_names
}

output "secret_arns" {
  description = "Secrets Manager secret ARNs, keyed by file alias."
  value       = module.app_config.secret_arns
}

output "bucket_name" {
  description = "Name of the demo bucket."
  value       = module.app_config.bucket_name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs keyed by name (empty when create_ecr_repositories is false)."
  value       = module.ecr.repository_urls
}

output "github_ci_role_arn" {
  description = "Role GitHub Actions assumes to push images (role-to-assume)."
  value       = module.github_oidc.role_arn
}

output "github_plan_role_arn" {
  description = "Read-only role the pull request plan job assumes (AWS_PLAN_ROLE_ARN)."
  value       = module.github_oidc.plan_role_arn
}

output "github_oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider."
  value       = module.github_oidc.provider_arn
}

output "service_role_arns" {
  description = "IRSA role ARN of each application service account, keyed by service account name (eks.amazonaws.com/role-arn)."
  value       = { for name, role in module.service_irsa : name => role.role_arn }
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role of Cluster Autoscaler (kube-system/cluster-autoscaler)."
  value       = module.cluster_addons_iam.cluster_autoscaler_role_arn
}

output "cluster_name" {
  description = "Name of the EKS cluster the roles trust."
  value       = var.cluster_name
}

output "cluster_oidc_issuer_url" {
  description = "Service account issuer the IRSA roles trust."
  value       = local.oidc_issuer_url
}

output "cluster_oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster issuer."
  value       = local.oidc_provider_arn
}

output "cluster_endpoint" {
  description = "API endpoint of a cluster created here; null otherwise."
  value       = module.eks.cluster_endpoint
}

output "ebs_csi_driver_role_arn" {
  description = "IRSA role of the EBS CSI driver add-on of a cluster created here (with its node group); null otherwise."
  value       = module.eks.ebs_csi_driver_role_arn
}

output "cluster_arn" {
  description = "ARN of a cluster created here; null otherwise."
  value       = module.eks.cluster_arn
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of a cluster created here (kubeconfig); null otherwise."
  value       = module.eks.cluster_certificate_authority_data
}

output "cluster_security_group_id" {
  description = "Cluster security group of a cluster created here; null otherwise."
  value       = module.eks.cluster_security_group_id
}

output "cluster_addons" {
  description = "EKS managed add-ons of a cluster created here, name to version."
  value       = module.eks.addons
}

output "gitops_repository_url" {
  description = "HTTPS clone URL of github_repository: the repository Argo CD syncs."
  value       = local.gitops_repository_url
}

output "api_hostname" {
  description = "DNS name of the public API (main-api's Ingress host)."
  value       = var.api_hostname
}

output "summary" {
  description = "Every name and ARN above in one object: what the environment roots output for the other layers. No secret values."
  value = {
    account_id                  = data.aws_caller_identity.current.account_id
    region                      = data.aws_region.current.name
    parameter_prefix            = var.parameter_prefix
    parameter_names             = module.app_config.parameter_names
    secret_names                = module.app_config.secret_names
    secret_arns                 = module.app_config.secret_arns
    bucket_name                 = module.app_config.bucket_name
    ecr_repository_urls         = module.ecr.repository_urls
    github_ci_role_arn          = module.github_oidc.role_arn
    github_plan_role_arn        = module.github_oidc.plan_role_arn
    github_oidc_provider_arn    = module.github_oidc.provider_arn
    service_role_arns           = { for name, role in module.service_irsa : name => role.role_arn }
    grafana_role_arn            = module.grafana_irsa.role_arn
    grafana_admin_secret_name   = module.app_config.grafana_admin_secret.name
    cluster_autoscaler_role_arn = module.cluster_addons_iam.cluster_autoscaler_role_arn
    ebs_csi_driver_role_arn     = module.eks.ebs_csi_driver_role_arn
    cluster_name                = var.cluster_name
    cluster_oidc_issuer_url     = local.oidc_issuer_url
    cluster_oidc_provider_arn   = local.oidc_provider_arn
    cluster_endpoint            = module.eks.cluster_endpoint
    cluster_arn                 = module.eks.cluster_arn
    cluster_security_group_id   = module.eks.cluster_security_group_id
    cluster_addons              = module.eks.addons
    gitops_repository_url       = local.gitops_repository_url
    api_hostname                = var.api_hostname
    release_tag_prefix          = var.release_tag_prefix
  }
}

output "grafana_role_arn" {
  description = "IRSA role of Grafana's service account monitoring/kube-prometheus-stack-grafana (reads only its admin password)."
  value       = module.grafana_irsa.role_arn
}

output "grafana_admin_secret_name" {
  description = "Secrets Manager name of Grafana's admin password (objectName of the SecretProviderClass grafana-admin)."
  value       = module.app_config.grafana_admin_secret.name
}
