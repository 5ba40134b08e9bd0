variable "create_provider" {
  description = "Create the IAM OIDC provider for token.actions.githubusercontent.com. Set false when the account already has one (there can be only one per URL) and pass provider_arn."
  type        = bool
  default     = true
}

variable "provider_arn" {
  description = "ARN of an existing GitHub OIDC provider, used when create_provider is false."
  type        = string
  default     = null

  validation {
    condition     = var.create_provider || var.provider_arn != null
    error_message = "provider_arn is required when create_provider is false."
  }
}

variable "repository" {
  description = "GitHub repository allowed to assume the CI role (and the plan role), as OWNER/REPO."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must look like OWNER/REPO."
  }
}

variable "repository_owner_id" {
  description = "Numeric id of the repository owner. With repository_id, also trusts the immutable subject form repo:OWNER@ID/REPO@ID:..."
  type        = string
  default     = null

  validation {
    condition     = var.repository_owner_id == null || can(regex("^[0-9]+$", var.repository_owner_id))
    error_message = "repository_owner_id must be numeric."
  }
}

variable "repository_id" {
  description = "Numeric id of the repository; see repository_owner_id. Give both or neither."
  type        = string
  default     = null

  validation {
    condition     = (var.repository_id == null) == (var.repository_owner_id == null)
    error_message = "Give both repository_owner_id and repository_id, or neither."
  }

  validation {
    condition     = var.repository_id == null || can(regex("^[0-9]+$", var.repository_id))
    error_message = "repository_id must be numeric."
  }
}

variable "branches" {
  description = "Branches whose workflow runs may assume the CI role (subject ref:refs/heads/BRANCH)."
  type        = list(string)
  default     = ["main"]
}

variable "environments" {
  description = "GitHub environments whose jobs may assume the CI role (subject environment:NAME). A job with environment: presents this form instead of the branch form. None by default: no workflow job uses one."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.branches) + length(var.environments) > 0
    error_message = "Give at least one branch or environment: an empty subject list would trust nothing."
  }
}

variable "role_name" {
  description = "Name of the CI role."
  type        = string
}

variable "ecr_repository_arns" {
  description = "ECR repositories the CI role may push to; it gets no other permission."
  type        = list(string)

  validation {
    condition     = length(var.ecr_repository_arns) > 0 && alltrue([for arn in var.ecr_repository_arns : !strcontains(arn, "*")])
    error_message = "List the repository ARNs explicitly, without wildcards."
  }
}

variable "plan_role" {
  description = "A read-only role for `terraform plan -refresh=false -lock=false` in pull requests (subject repo:OWNER/REPO:pull_request): s3:GetObject on state_bucket/state_key, s3:ListBucket of that key, and what the configuration's data and ephemeral blocks call: eks:DescribeCluster on eks_cluster_arns, iam:GetOpenIDConnectProvider on oidc_provider_arns, secretsmanager:GetRandomPassword with generates_passwords, ec2:DescribeAvailabilityZones with looks_up_zones. Nothing else. Null: no plan role."
  type = object({
    name                = string
    state_bucket        = string
    state_key           = string
    eks_cluster_arns    = optional(list(string), [])
    oidc_provider_arns  = optional(list(string), [])
    generates_passwords = optional(bool, false)
    looks_up_zones      = optional(bool, false)
  })
  default = null

  validation {
    # try(): a null plan_role has no attributes to check.
    condition = alltrue([
      for value in try(concat([var.plan_role.state_bucket, var.plan_role.state_key], var.plan_role.eks_cluster_arns, var.plan_role.oidc_provider_arns), []) :
      !strcontains(value, "*")
    ])
    error_message = "plan_role: name the state object, the clusters and the providers exactly, without wildcards."
  }
}

variable "max_session_duration" {
  description = "Maximum session length of the CI and plan roles, in seconds."
  type        = number
  default     = 3600
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy for the CI and plan roles; null sets none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
