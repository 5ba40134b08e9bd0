variable "name_prefix" {
  description = "Prefix of the role and policy names."
  type        = string
}

variable "cluster_name" {
  description = "Name of the EKS cluster: Cluster Autoscaler may only scale node groups tagged for it."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster."
  type        = string
}

variable "oidc_issuer_url" {
  description = "Issuer URL of the cluster."
  type        = string
}

variable "enable_cluster_autoscaler" {
  description = "Create the Cluster Autoscaler role."
  type        = bool
  default     = true
}

variable "cluster_autoscaler_service_account" {
  description = "Namespace and name of Cluster Autoscaler's service account."
  type = object({
    namespace = string
    name      = string
  })
  default = {
    namespace = "kube-system"
    name      = "cluster-autoscaler"
  }
}

variable "enable_csi_provider" {
  description = "Create the role of the Secrets Store CSI driver's AWS provider DaemonSet."
  type        = bool
  default     = true
}

variable "csi_provider_service_account" {
  description = "Namespace and name of the CSI driver provider's service account."
  type = object({
    namespace = string
    name      = string
  })
  default = {
    namespace = "kube-system"
    name      = "csi-secrets-store-provider-aws"
  }
}

variable "secrets_read_policy_arn" {
  description = "Policy that reads the application's secrets, attached to the CSI provider role. Required when enable_csi_provider is true."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_csi_provider || var.secrets_read_policy_arn != null
    error_message = "secrets_read_policy_arn is required when enable_csi_provider is true."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
