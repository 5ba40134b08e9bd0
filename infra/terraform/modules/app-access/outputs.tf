output "aux_service_policy_arn" {
  description = "ARN of the aux-service policy (S3 list, SSM read under the prefix, KMS via SSM)."
  value       = aws_iam_policy.aux_service.arn
}

output "secrets_read_policy_arns" {
  description = "ARN of each service's secrets read policy (for the CSI driver), keyed by service name."
  value       = { for name, policy in aws_iam_policy.secrets_read : name => policy.arn }
}

output "aux_service_policy_json" {
  description = "Rendered aux-service policy."
  value       = data.aws_iam_policy_document.aux_service.json
}

output "secrets_read_policy_json" {
  description = "Rendered secrets read policy of each service, keyed by service name."
  value       = { for name, document in data.aws_iam_policy_document.secrets_read : name => document.json }
}
