variable "name" {
  description = "Application name: prefix of secrets, policies, roles and the demo bucket."
  type        = string
  default     = "kontaxa"
}

variable "namespace" {
  description = "Kubernetes namespace of the application's service accounts."
  type        = string
  default     = "kontaxa"
}

variable "parameter_prefix" {
  description = "SSM path of the application's parameters (aux-service's PARAMETER_PREFIX)."
  type        = string
  default     = "/kontaxa/app"
}

variable "string_parameters" {
  description = "Plain String parameters under parameter_prefix, keyed by relative name."
  type        = map(string)
  default = {
    "welcome-message" = "Welcome to Kontaxa"
    "feature-flags"   = "{\"dark_mode\":true}"
  }
}

variable "secure_parameters" {
  description = "Generated SecureString parameters under parameter_prefix, by relative name."
  type        = set(string)
  default     = ["db/password"]
}

variable "generated_value_version" {
  description = "Increase to generate and write new secret and SecureString values."
  type        = number
  default     = 1
}

variable "ecr_repositories" {
  description = "ECR repositories, one per image."
  type        = set(string)
  default     = ["kontaxa/main-api", "kontaxa/aux-service", "kontaxa/secrets-provider", "kontox-goldenimage"]
}

variable "create_ecr_repositories" {
  description = "Create the ECR repositories. False where the AWS API at hand has no ECR (LocalStack's free edition); the CI role still names their ARNs."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "GitHub repository (OWNER/REPO) whose workflows may push images."
  type        = string
}

variable "github_repository_owner_id" {
  description = "Numeric owner id, to trust the immutable sub form as well (give with github_repository_id)."
  type        = string
  default     = null
}

variable "github_repository_id" {
  description = "Numeric repository id, to trust the immutable sub form as well."
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
  description = "Create the GitHub OIDC provider; false when the account already has it (pass github_oidc_provider_arn)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub OIDC provider, when create_github_oidc_provider is false."
  type        = string
  default     = null
}

variable "state_bucket" {
  description = "S3 bucket of this stack's Terraform state, which the pull request plan role may read. Null: NAME-tfstate-ACCOUNT-REGION, the name environments/aws/backend.hcl.example uses."
  type        = string
  default     = null
}

variable "state_key" {
  description = "Key of the state object in state_bucket (the backend's key): the one object the plan role may read."
  type        = string
  default     = "kontaxa/aws/terraform.tfstate"

  validation {
    condition     = length(var.state_key) > 0 && !startswith(var.state_key, "/") && !strcontains(var.state_key, "*")
    error_message = "state_key is an S3 key such as kontaxa/aws/terraform.tfstate: no leading slash, no wildcard."
  }
}

variable "create_eks" {
  description = "Create VPC, EKS cluster and its OIDC provider here. False: IRSA trusts an existing cluster (cluster_name) or a given issuer (cluster_oidc_issuer_url)."
  type        = bool
  default     = false
}

variable "create_node_group" {
  description = "With create_eks, also create the managed node group."
  type        = bool
  default     = true
}

variable "cluster_name" {
  description = "Name of the EKS cluster (created with create_eks, else looked up unless cluster_oidc_issuer_url is given)."
  type        = string
  default     = "kontaxa"
}

variable "cluster_oidc_issuer_url" {
  description = "Service account issuer of a cluster that is not EKS (kind with LocalStack, for instance). When set and create_eks is false, an IAM OIDC provider is created for it and nothing is looked up."
  type        = string
  default     = null

  validation {
    condition     = var.cluster_oidc_issuer_url == null || startswith(coalesce(var.cluster_oidc_issuer_url, "-"), "https://")
    error_message = "cluster_oidc_issuer_url must start with https://."
  }

  validation {
    condition     = !(var.create_eks && var.cluster_oidc_issuer_url != null)
    error_message = "Give create_eks or cluster_oidc_issuer_url, not both: the roles trust one issuer."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes version of a created cluster."
  type        = string
  default     = "1.35"
}

variable "availability_zones" {
  description = "Availability zones of a created cluster's subnets, to pin them; empty looks them up (modules/eks)."
  type        = list(string)
  default     = []
}

variable "enable_cluster_access_entries" {
  description = "A created cluster authenticates with access entries only (API mode). False only on emulators, whose EKS API keeps no access configuration."
  type        = bool
  default     = true
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles or users given cluster admin on a created cluster (EKS access entries); nobody else can use its Kubernetes API."
  type        = list(string)
  default     = []
}

variable "cluster_log_retention_days" {
  description = "Retention of a created cluster's control plane log group, in days."
  type        = number
  default     = 90
}

variable "api_hostname" {
  description = "DNS name of the public API (main-api's Ingress host); output for the eks overlay."
  type        = string
  default     = "api.kontaxa.example.com"
}

variable "release_tag_prefix" {
  description = "Tag prefix of promoted images, which the ECR lifecycle policy never expires."
  type        = string
  default     = "release-"
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on every IAM role of the platform; null sets none."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of a created cluster's VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs that may reach a created cluster's public API endpoint; empty keeps it private."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of a created node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "skip_provider_waits" {
  description = "Only for throwaway emulator runs, never on AWS: leave off the settings whose create is mostly a wait of the AWS provider, so an apply to an emulator takes seconds. The demo bucket gets no lifecycle rule (about a minute), the VPC no DNS hostnames (10 s), the cluster key no rotation and no tags (about 4 s each). Nothing on an emulator needs them (it stores them, but no node resolves names, no key rotates, nothing expires); every other resource and setting is the same."
  type        = bool
  default     = false
}

variable "disposable" {
  description = "A throwaway environment (emulators): destroy deletes buckets and repositories with content and secrets without a recovery window."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
