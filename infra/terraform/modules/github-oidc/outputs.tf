output "provider_arn" {
  description = "ARN of the GitHub OIDC provider (created or given)."
  value       = local.provider_arn
}

output "role_arn" {
  description = "ARN of the CI role: the role-to-assume of aws-actions/configure-aws-credentials."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the CI role."
  value       = aws_iam_role.this.name
}

output "subjects" {
  description = "OIDC subjects (sub claims) the role trusts."
  value       = local.subjects
}

output "trust_policy_json" {
  description = "Rendered trust policy of the CI role."
  value       = data.aws_iam_policy_document.trust.json
}

output "policy_json" {
  description = "Rendered permissions policy of the CI role."
  value       = data.aws_iam_policy_document.ecr_push.json
}
