variable "region" {
  description = "Region the emulator serves."
  type        = string
  default     = "us-east-1"
}

variable "emulator_access_key" {
  description = "Access key the emulator accepts. LocalStack takes a 12-digit key as the account id; \"test\" gives its default account."
  type        = string
  default     = "test"
}

variable "emulator_secret_key" {
  description = "Secret key the emulator accepts. Emulators check nothing: this is not a credential."
  type        = string
  default     = "test"
}

variable "emulator_account_ids" {
  description = "Accounts an emulator may report (moto's and LocalStack's defaults). The provider refuses any other, so this root never touches a real account."
  type        = list(string)
  default     = ["123456789012", "000000000000"]
}

variable "github_repository" {
  description = "GitHub repository (OWNER/REPO) the CI role trusts."
  type        = string
  default     = "kontaxa/kontaxa"
}

variable "create_eks" {
  description = "Create the EKS cluster on the emulator, so IRSA roles trust a real issuer output (moto has EKS; LocalStack's free edition has not)."
  type        = bool
  default     = true
}

variable "cluster_oidc_issuer_url" {
  description = "With create_eks = false: the service account issuer the IRSA roles trust (the kind cluster's). Ignored when create_eks is true."
  type        = string
  default     = "https://oidc.kind.kontaxa.local"
}

variable "create_ecr_repositories" {
  description = "Create the ECR repositories (false where the emulator has no ECR)."
  type        = bool
  default     = true
}

variable "skip_provider_waits" {
  description = "Leave off the settings whose create is mostly a wait of the AWS provider: the demo bucket's lifecycle rule (about a minute), the VPC's DNS hostnames (10 s), the cluster key's rotation and tags (about 4 s each). The local runner passes true; every other resource and setting is the same."
  type        = bool
  default     = false
}
