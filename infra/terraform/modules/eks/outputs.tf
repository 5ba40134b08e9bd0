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
