variable "account_id" {
  description = "AWS account to manage; the provider refuses credentials of any other account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "github_repository" {
  description = "GitHub repository (OWNER/REPO) whose workflows may push images."
  type        = string
}

variable "github_repository_owner_id" {
  description = "Numeric owner id: also trust the immutable sub form (give with github_repository_id)."
  type        = string
  default     = null
}

variable "github_repository_id" {
  description = "Numeric repository id: also trust the immutable sub form."
  type        = string
  default     = null
}

variable "github_branches" {
  description = "Branches whose workflows may assume the CI role."
  type        = list(string)
  default     = ["main"]
}

variable "github_environments" {
  description = "GitHub environments whose jobs may assume the CI role."
  type        = list(string)
  default     = []
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub OIDC provider (an account has at most one); false reuses github_oidc_provider_arn."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "Existing GitHub OIDC provider, when create_github_oidc_provider is false."
  type        = string
  default     = null
}

variable "state_bucket" {
  description = "Bucket of backend.hcl: the pull request plan role reads the state there. Null: kontaxa-tfstate-ACCOUNT-REGION, as in backend.hcl.example."
  type        = string
  default     = null
}

variable "state_key" {
  description = "Key of backend.hcl: the one object the pull request plan role may read."
  type        = string
  default     = "kontaxa/aws/terraform.tfstate"
}

variable "cluster_name" {
  description = "EKS cluster the IRSA roles trust: an existing one, or the one created with create_eks."
  type        = string
  default     = "kontaxa"
}

variable "create_eks" {
  description = "Create VPC, cluster and node group too. False (default) uses the existing cluster_name."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  description = "Kubernetes version when create_eks is true."
  type        = string
  default     = "1.35"
}

variable "availability_zones" {
  description = "Pin the availability zones of a created cluster; empty looks up the account's zones EKS supports."
  type        = list(string)
  default     = []
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles or users that administer a created cluster (EKS access entries). Required with create_eks: nobody else, the creator included, can use its Kubernetes API."
  type        = list(string)
  default     = []

  validation {
    condition     = !var.create_eks || length(var.cluster_admin_principal_arns) > 0
    error_message = "With create_eks, list at least one admin principal: the cluster grants no one else access."
  }
}

variable "cluster_log_retention_days" {
  description = "Retention of a created cluster's control plane log group, in days."
  type        = number
  default     = 90
}

variable "api_hostname" {
  description = "DNS name of the public API (main-api's Ingress host), written into the eks overlay by task k8s:eks-outputs."
  type        = string
  default     = "api.kontaxa.example.com"
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on every IAM role (many organisations require one); null sets none."
  type        = string
  default     = null
}

variable "default_tags" {
  description = "Tags the provider puts on every resource it creates."
  type        = map(string)
  default     = { "app.kubernetes.io/part-of" = "kontaxa", "managed-by" = "terraform", environment = "aws" }
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to the public API endpoint of a created cluster; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of a created node group."
  type        = list(string)
  default     = ["t3.large"]
}
