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

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy for the roles; null sets none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
