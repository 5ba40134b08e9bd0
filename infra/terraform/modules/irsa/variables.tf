variable "role_name" {
  description = "Name of the IAM role."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster's service account issuer."
  type        = string
}

variable "oidc_issuer_url" {
  description = "Issuer URL of the cluster (https://oidc.eks.REGION.amazonaws.com/id/ID), as reported by the cluster."
  type        = string

  validation {
    condition     = startswith(var.oidc_issuer_url, "https://")
    error_message = "oidc_issuer_url must start with https://."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the service account."
  type        = string
}

variable "service_account" {
  description = "Name of the Kubernetes service account allowed to assume the role."
  type        = string
}

variable "policy_arns" {
  description = "Policies to attach, keyed by a static name (the keys must be known at plan time)."
  type        = map(string)
  default     = {}
}

variable "max_session_duration" {
  description = "Maximum session length, in seconds."
  type        = number
  default     = 3600
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy for the role; null sets none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to the role."
  type        = map(string)
  default     = {}
}
