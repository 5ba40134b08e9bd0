output "aux_service_policy_arn" {
  description = "ARN of the aux-service policy (S3 list, SSM read under the prefix, KMS via SSM)."
  value       = aws_iam_policy.aux_service.arn
}

output "secrets_read_policy_arn" {
  description = "ARN of the policy that reads the application's secrets (for the CSI driver)."
  value       = aws_iam_policy.secrets_read.arn
}

output "aux_service_policy_json" {
  description = "Rendered aux-service policy."
  value       = data.aws_iam_policy_document.aux_service.json
}

output "secrets_read_policy_json" {
  description = "Rendered secrets read policy."
  value       = data.aws_iam_policy_document.secrets_read.json
}
