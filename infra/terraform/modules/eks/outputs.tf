output "cluster_name" {
  description = "Name of the cluster; null when create is false."
  value       = try(aws_eks_cluster.this[0].name, null)
}

output "cluster_endpoint" {
  description = "API server endpoint; null when create is false."
  value       = try(aws_eks_cluster.this[0].endpoint, null)
}

output "oidc_issuer_url" {
  description = "Service account issuer URL of the cluster; null when create is false."
  value       = try(aws_eks_cluster.this[0].identity[0].oidc[0].issuer, null)
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for the issuer; null when create is false."
  value       = try(aws_iam_openid_connect_provider.this[0].arn, null)
}

output "vpc_id" {
  description = "Id of the cluster VPC; null when create is false."
  value       = try(aws_vpc.this[0].id, null)
}

output "private_subnet_ids" {
  description = "Ids of the private (node) subnets."
  value       = aws_subnet.private[*].id
}

output "node_group_name" {
  description = "Name of the managed node group; null when not created."
  value       = try(aws_eks_node_group.this[0].node_group_name, null)
}

output "cluster_arn" {
  description = "ARN of the cluster; null when create is false."
  value       = try(aws_eks_cluster.this[0].arn, null)
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the API server (kubeconfig certificate-authority-data); null when create is false."
  value       = try(aws_eks_cluster.this[0].certificate_authority[0].data, null)
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the control plane and the managed nodes; null when create is false."
  value       = try(aws_eks_cluster.this[0].vpc_config[0].cluster_security_group_id, null)
}

output "ebs_csi_driver_role_arn" {
  description = "IRSA role of the EBS CSI driver controller (kube-system/ebs-csi-controller-sa); null without the node group."
  value       = try(module.addon_irsa["ebs-csi-driver"].role_arn, null)
}

output "addons" {
  description = "EKS managed add-ons installed, name to version (empty without the node group)."
  value = merge(
    { for name, addon in aws_eks_addon.before_nodes : name => addon.addon_version },
    { for addon in aws_eks_addon.coredns : addon.addon_name => addon.addon_version },
    { for addon in aws_eks_addon.ebs_csi_driver : addon.addon_name => addon.addon_version },
  )
}
