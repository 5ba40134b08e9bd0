output "cluster_autoscaler_role_arn" {
  description = "IRSA role of Cluster Autoscaler; null when disabled."
  value       = try(module.cluster_autoscaler_irsa[0].role_arn, null)
}

output "cluster_autoscaler_policy_json" {
  description = "Rendered Cluster Autoscaler policy; null when disabled."
  value       = try(data.aws_iam_policy_document.cluster_autoscaler[0].json, null)
}
