variable "create" {
  description = "Create the VPC, the cluster and its OIDC provider. False creates nothing (the cluster already exists)."
  type        = bool
  default     = true
}

variable "create_node_group" {
  description = "Create the managed node group (false on emulators, which run no instances)."
  type        = bool
  default     = true
}

variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane. Keep it in EKS standard support, and change it with addon_versions and the Cluster Autoscaler image of infra/k8s (a test keeps them aligned)."
  type        = string
  default     = "1.35"
}

variable "addon_versions" {
  description = "Pinned versions of the EKS managed add-ons, for kubernetes_version. Check them before an apply with `aws eks describe-addon-versions --kubernetes-version <version> --addon-name <name>`: a version EKS does not publish for the cluster's version fails CreateAddon. The evidence behind each default is in the comment next to it."
  type = object({
    vpc_cni        = string
    kube_proxy     = string
    coredns        = string
    ebs_csi_driver = string
  })
  # Evidence for Kubernetes 1.35 (searched 2026-12-01, kube-proxy and CoreDNS chosen again on
  # 2026-12-04 after a review: a build EKS does not publish fails CreateAddon midway through the
  # first apply, so a build AWS documentation lists beats a later one seen only elsewhere):
  # - vpc_cni: upstream release v1.21.1 (aws/amazon-vpc-cni-k8s tag v1.21.1, CHANGELOG "Bug fix
  #   for Network Policy Agent"); VPC CNI add-on builds are published for every supported
  #   Kubernetes version at once (EKS User Guide, "Amazon VPC CNI versions" gives one build for all).
  #   eksbuild.3 is seen only in public configurations, not in AWS documentation.
  # - kube_proxy: the EKS User Guide's "kube-proxy versions" table (docs.amazonaws.cn snapshot)
  #   lists v1.35.3-eksbuild.2 for 1.35.
  # - coredns: the EKS User Guide's "CoreDNS versions" table (same snapshot) lists
  #   v1.13.2-eksbuild.4 for 1.33 to 1.35.
  # - ebs_csi_driver: upstream release v1.57.1 (kubernetes-sigs/aws-ebs-csi-driver tag v1.57.1,
  #   README "Compatibility": every Kubernetes version EKS supports); eksbuild.1 is seen only in
  #   public configurations of 1.35 clusters.
  default = {
    vpc_cni        = "v1.21.1-eksbuild.3"
    kube_proxy     = "v1.35.3-eksbuild.2"
    coredns        = "v1.13.2-eksbuild.4"
    ebs_csi_driver = "v1.57.1-eksbuild.1"
  }
}

variable "enable_access_entries" {
  description = "Authenticate with EKS access entries only (API mode, no admin right for the creator). False only where the EKS API keeps no access configuration (emulators): the cluster then keeps EKS's default."
  type        = bool
  default     = true
}

variable "admin_principal_arns" {
  description = "IAM roles or users given cluster admin through EKS access entries (AmazonEKSClusterAdminPolicy). Nobody else, the creator included, gets access to the Kubernetes API."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.admin_principal_arns : can(regex("^arn:[^:]+:iam::[0-9]{12}:(role|user)/", arn))])
    error_message = "admin_principal_arns must be IAM role or user ARNs."
  }
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on every role this module creates; null sets none."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the cluster VPC; split into one public and one private subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR."
  }
}

variable "availability_zones" {
  description = "Availability zones for the subnets (EKS needs two or more), to pin them. Empty: the first zone_count available zones of the account that need no opt-in and that EKS supports."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones, or none for the default."
  }
}

variable "zone_count" {
  description = "How many availability zones to use when availability_zones is empty."
  type        = number
  default     = 2

  validation {
    condition     = var.zone_count >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "unsupported_zone_ids" {
  description = "Zone ids EKS refuses for the control plane (Amazon EKS User Guide, subnet requirements), left out of the zone lookup."
  type        = list(string)
  default     = ["use1-az3", "usw1-az2", "cac1-az3"]
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint. Empty keeps the endpoint private (reach it from inside the VPC)."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "Do not open the API endpoint to 0.0.0.0/0; list the operators' CIDRs."
  }
}

variable "cluster_log_types" {
  description = "Control plane log types sent to CloudWatch Logs: who called the API, what was allowed, and how they authenticated."
  type        = list(string)
  default     = ["api", "audit", "authenticator"]
}

variable "cluster_log_retention_days" {
  description = "Retention of the control plane log group, in days."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cluster_log_retention_days)
    error_message = "cluster_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_scaling" {
  description = "Size bounds of the managed node group; Cluster Autoscaler moves desired between min and max."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = {
    min     = 2
    desired = 2
    max     = 5
  }

  validation {
    condition     = var.node_scaling.min <= var.node_scaling.desired && var.node_scaling.desired <= var.node_scaling.max
    error_message = "node_scaling must satisfy min <= desired <= max."
  }
}

variable "skip_provider_waits" {
  description = "Only for throwaway emulator runs, never on AWS: leave off the settings whose create is mostly a wait of the AWS provider. The VPC gets no DNS hostnames (a fixed 10 s wait; nodes need them on AWS), the cluster key no rotation and no tags (about 4 s each, five checks a second apart)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
